/* Box utilities with no loss: FCOS centerness targets and pairwise IoU. One item per work-item. */

/* √(min(l, r)/max(l, r) · min(t, b)/max(t, b)) per (l, t, r, b) row; a ratio whose max is 0 counts as 0. */
kernel void centerness_target(global const float* ltrb, global float* centerness, int n)
{
    int i = (int)get_global_id(0);
    if (i >= n)
        return;
    float4 d = vload4(i, ltrb);
    float horizontal = fmax(d.x, d.z), vertical = fmax(d.y, d.w);
    float ratio_x = horizontal == 0.0f ? 0.0f : fmin(d.x, d.z) / horizontal;
    float ratio_y = vertical == 0.0f ? 0.0f : fmin(d.y, d.w) / vertical;
    centerness[i] = sqrt(ratio_x * ratio_y);
}

inline float4 corners(float4 b, int cxcywh)
{
    return cxcywh ? (float4)(b.xy - 0.5f * b.zw, b.xy + 0.5f * b.zw) : b;
}

/* torchvision's box_iou: iou[i, j] = I/(A_i + A_j − I), I from the overlap clamped at 0. cxcywh: 1 for (cx, cy, w, h) rows. */
kernel void box_iou(global const float* boxes1, global const float* boxes2, global float* iou, int n, int m, int cxcywh)
{
    int j = (int)get_global_id(0), i = (int)get_global_id(1);
    if (i >= n || j >= m)
        return;
    float4 a = corners(vload4(i, boxes1), cxcywh), b = corners(vload4(j, boxes2), cxcywh);
    float w = fmax(fmin(a.z, b.z) - fmax(a.x, b.x), 0.0f);
    float h = fmax(fmin(a.w, b.w) - fmax(a.y, b.y), 0.0f);
    float inter = w * h;
    iou[(long)i * m + j] = inter / ((a.z - a.x) * (a.w - a.y) + (b.z - b.x) * (b.w - b.y) - inter);
}
