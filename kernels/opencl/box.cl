/* Box losses: the math of kernels/box_kernels.h's LOSS,
 *   vfloat LOSS(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
 * the loss of WIDTH (prediction, target) pairs and the gradients with respect to both. Each mirrors the
 * Evaluate method of the C# struct of the same loss (bindings/LossKernels/Box/), quantity for quantity,
 * and prm holds that struct's hyperparameters in the order of its Kernel property. The shared pieces
 * mirror BoxPair.cs: a forward function and a back_ function that adds ∂loss/∂coordinate into the
 * pair's accumulators. min and max split a tie evenly, as PyTorch's backward does.
 *
 * centerness_bce at the end is an elementwise LOSS (kernels/elementwise_kernels.h), the FCOS
 * centerness loss. */

typedef struct
{
    vfloat x1, y1, x2, y2;
} box_t;

typedef struct
{
    box_t p, t, gp, gt;
} pair_t;

inline pair_t make_pair(box_t p, box_t t)
{
    pair_t q;
    q.p = p;
    q.t = t;
    q.gp.x1 = q.gp.y1 = q.gp.x2 = q.gp.y2 = 0.0f;
    q.gt = q.gp;
    return q;
}

/* The share of ∂min(a, b) that goes to a: 1, ½ at a tie, else 0; and the same for max. */
inline vfloat min_share(vfloat a, vfloat b)
{
    return select(select((vfloat)(0.0f), (vfloat)(0.5f), a == b), (vfloat)(1.0f), a < b);
}

inline vfloat max_share(vfloat a, vfloat b)
{
    return select(select((vfloat)(0.0f), (vfloat)(0.5f), a == b), (vfloat)(1.0f), a > b);
}

/* torch.abs's derivative: sign, 0 at 0, NaN at NaN. */
#define abs_slope sign_or_nan

// 1 where a divisor is 0: its dividend is then 0 too, and the quotient becomes 0 (SIoU's Λ and ω).
inline vfloat non_zero(vfloat divisor) { return select(divisor, (vfloat)(1.0f), divisor == 0.0f); }

inline vfloat width_of(box_t b) { return b.x2 - b.x1; }
inline vfloat height_of(box_t b) { return b.y2 - b.y1; }

/* Adds g·share to *ga and the rest of g to *gb: the backward of a min or max of a and b. */
inline void split(vfloat g, vfloat share, vfloat* ga, vfloat* gb)
{
    vfloat to_a = g * share;
    *ga += to_a;
    *gb += g - to_a;
}

/* Backward of the four edges a pair defines, given ∂/∂ each edge: the overlap's max(x1), max(y1),
 * min(x2), min(y2), or (enclosing) the enclosing box's min(x1), min(y1), max(x2), max(y2). */
inline void back_edges(pair_t* q, int enclosing, vfloat g_left, vfloat g_top, vfloat g_right, vfloat g_bottom)
{
    split(g_left, enclosing ? min_share(q->p.x1, q->t.x1) : max_share(q->p.x1, q->t.x1), &q->gp.x1, &q->gt.x1);
    split(g_top, enclosing ? min_share(q->p.y1, q->t.y1) : max_share(q->p.y1, q->t.y1), &q->gp.y1, &q->gt.y1);
    split(g_right, enclosing ? max_share(q->p.x2, q->t.x2) : min_share(q->p.x2, q->t.x2), &q->gp.x2, &q->gt.x2);
    split(g_bottom, enclosing ? max_share(q->p.y2, q->t.y2) : min_share(q->p.y2, q->t.y2), &q->gp.y2, &q->gt.y2);
}

/* Intersection: torchvision's (clamp 0: w·h where both are positive, else 0 with no gradient) or
 * mmdetection's (clamp 1: max(w, 0)·max(h, 0), the gradient passing at exactly 0). */
inline vfloat intersection(const pair_t* q, int clamp, vfloat* w, vfloat* h)
{
    vfloat ow = nan_min(q->p.x2, q->t.x2) - nan_max(q->p.x1, q->t.x1);
    vfloat oh = nan_min(q->p.y2, q->t.y2) - nan_max(q->p.y1, q->t.y1);
    if (clamp)
    {
        *w = nan_max(ow, 0.0f);
        *h = nan_max(oh, 0.0f);
    }
    else
    {
        vint overlapping = ow > 0.0f && oh > 0.0f;
        *w = select((vfloat)(0.0f), ow, overlapping);
        *h = select((vfloat)(0.0f), oh, overlapping);
    }
    return *w * *h;
}

inline void back_intersection(pair_t* q, int clamp, vfloat g, vfloat w, vfloat h)
{
    vfloat g_w = g * h, g_h = g * w;
    if (clamp)
    {
        vfloat ow = nan_min(q->p.x2, q->t.x2) - nan_max(q->p.x1, q->t.x1);
        vfloat oh = nan_min(q->p.y2, q->t.y2) - nan_max(q->p.y1, q->t.y1);
        g_w = select(g_w, (vfloat)(0.0f), ow < 0.0f);
        g_h = select(g_h, (vfloat)(0.0f), oh < 0.0f);
    }
    back_edges(q, 0, -g_w, -g_h, g_w, g_h);
}

inline void back_areas(pair_t* q, vfloat g_p, vfloat g_t)
{
    vfloat gw = g_p * height_of(q->p), gh = g_p * width_of(q->p);
    q->gp.x2 += gw;
    q->gp.x1 -= gw;
    q->gp.y2 += gh;
    q->gp.y1 -= gh;
    gw = g_t * height_of(q->t);
    gh = g_t * width_of(q->t);
    q->gt.x2 += gw;
    q->gt.x1 -= gw;
    q->gt.y2 += gh;
    q->gt.y1 -= gh;
}

inline void enclosure(const pair_t* q, vfloat* w, vfloat* h)
{
    *w = nan_max(q->p.x2, q->t.x2) - nan_min(q->p.x1, q->t.x1);
    *h = nan_max(q->p.y2, q->t.y2) - nan_min(q->p.y1, q->t.y1);
}

inline void back_enclosure(pair_t* q, vfloat g_w, vfloat g_h)
{
    back_edges(q, 1, -g_w, -g_h, g_w, g_h);
}

/* The prediction's center minus the target's, from differences of nearby coordinates (exact) rather than of sums. */
inline void center_offset(const pair_t* q, vfloat* dx, vfloat* dy)
{
    *dx = ((q->p.x1 - q->t.x1) + (q->p.x2 - q->t.x2)) * 0.5f;
    *dy = ((q->p.y1 - q->t.y1) + (q->p.y2 - q->t.y2)) * 0.5f;
}

inline void back_center_offset(pair_t* q, vfloat g_x, vfloat g_y)
{
    vfloat g_half = g_x * 0.5f;
    q->gp.x1 += g_half;
    q->gp.x2 += g_half;
    q->gt.x1 -= g_half;
    q->gt.x2 -= g_half;
    g_half = g_y * 0.5f;
    q->gp.y1 += g_half;
    q->gp.y2 += g_half;
    q->gt.y1 -= g_half;
    q->gt.y2 -= g_half;
}

inline void back_sizes(pair_t* q, vfloat g_w, vfloat g_h, vfloat g_tw, vfloat g_th)
{
    q->gp.x2 += g_w;
    q->gp.x1 -= g_w;
    q->gp.y2 += g_h;
    q->gp.y1 -= g_h;
    q->gt.x2 += g_tw;
    q->gt.x1 -= g_tw;
    q->gt.y2 += g_th;
    q->gt.y1 -= g_th;
}

/* IoU = I/(A₁ + A₂ − I + eps); *union_out holds the denominator. */
inline vfloat pair_iou(const pair_t* q, int clamp, float eps, vfloat* union_out, vfloat* iw, vfloat* ih)
{
    vfloat inter = intersection(q, clamp, iw, ih);
    *union_out = width_of(q->p) * height_of(q->p) + width_of(q->t) * height_of(q->t) - inter + eps;
    return inter / *union_out;
}

inline void back_iou(pair_t* q, int clamp, vfloat g_iou, vfloat g_union, vfloat iou, vfloat uni, vfloat iw, vfloat ih)
{
    vfloat g_u = g_union - g_iou * iou / uni;
    back_areas(q, g_u, g_u);
    back_intersection(q, clamp, g_iou / uni - g_u, iw, ih);
}

typedef struct
{
    vfloat width, height, dx, dy, diagonal;
} distance_t;

/* DIoU's ρ²/(c² + eps); clamp: mmdetection clamps the enclosing size at 0. */
inline vfloat distance_penalty(const pair_t* q, int clamp, float eps, distance_t* d)
{
    enclosure(q, &d->width, &d->height);
    if (clamp)
    {
        d->width = nan_max(d->width, 0.0f);
        d->height = nan_max(d->height, 0.0f);
    }
    center_offset(q, &d->dx, &d->dy);
    d->diagonal = d->width * d->width + d->height * d->height + eps;
    return (d->dx * d->dx + d->dy * d->dy) / d->diagonal;
}

inline void back_distance_penalty(pair_t* q, int clamp, vfloat g, vfloat penalty, const distance_t* d)
{
    vfloat g_rho = g / d->diagonal;
    back_center_offset(q, g_rho * 2.0f * d->dx, g_rho * 2.0f * d->dy);
    vfloat g_diagonal = -g_rho * penalty;
    vfloat g_w = g_diagonal * 2.0f * d->width, g_h = g_diagonal * 2.0f * d->height;
    if (clamp)
    {
        vfloat w, h;
        enclosure(q, &w, &h);
        g_w = select(g_w, (vfloat)(0.0f), w < 0.0f);
        g_h = select(g_h, (vfloat)(0.0f), h < 0.0f);
    }
    back_enclosure(q, g_w, g_h);
}

/* torch.clamp(v, −1, 1)'s backward times ∂(1 − v)/∂v: −1 on [−1, 1], bounds included, else 0. */
inline vfloat clamp_one_slope(vfloat v)
{
    return select((vfloat)(-1.0f), (vfloat)(0.0f), v < -1.0f || v > 1.0f);
}

/* prm = (eps, mode: 0 linear, 1 square, 2 log). mmdetection's iou_loss: U = max(A₁ + A₂ − I, 1e-6), IoU = max(I/U, eps). */
inline vfloat iou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat iw, ih;
    vfloat inter = intersection(&q, 1, &iw, &ih);
    vfloat uni = width_of(p) * height_of(p) + width_of(t) * height_of(t) - inter;
    vfloat safe = nan_max(uni, 1e-6f);
    vfloat value = inter / safe;
    vfloat clamped = nan_max(value, prm.x);
    vfloat loss, g_clamped;
    if (prm.y == 0.0f)
    {
        loss = 1.0f - clamped;
        g_clamped = -1.0f;
    }
    else if (prm.y == 1.0f)
    {
        loss = 1.0f - clamped * clamped;
        g_clamped = -2.0f * clamped;
    }
    else
    {
        loss = -log(clamped);
        g_clamped = -1.0f / clamped;
    }
    vfloat g_iou = select(g_clamped, (vfloat)(0.0f), value < prm.x);
    vfloat g_union = -g_iou * value / safe * max_share(uni, (vfloat)(1e-6f));
    back_areas(&q, g_union, g_union);
    back_intersection(&q, 1, g_iou / safe - g_union, iw, ih);
    *gp = q.gp;
    *gt = q.gt;
    return loss;
}

/* prm.x = eps. torchvision's generalized_box_iou_loss: 1 − IoU + (C − U)/(C + eps). */
inline vfloat giou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat uni, iw, ih, w, h;
    vfloat value = pair_iou(&q, 0, prm.x, &uni, &iw, &ih);
    enclosure(&q, &w, &h);
    vfloat enclosing = w * h + prm.x;
    vfloat loss = 1.0f - value + (enclosing - uni) / enclosing;
    vfloat g_enclosing = uni / (enclosing * enclosing);
    back_iou(&q, 0, -1.0f, -1.0f / enclosing, value, uni, iw, ih);
    back_enclosure(&q, g_enclosing * h, g_enclosing * w);
    *gp = q.gp;
    *gt = q.gt;
    return loss;
}

/* prm.x = eps. torchvision's distance_box_iou_loss: 1 − IoU + ρ²/(c² + eps). */
inline vfloat diou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat uni, iw, ih;
    distance_t d;
    vfloat value = pair_iou(&q, 0, prm.x, &uni, &iw, &ih);
    vfloat penalty = distance_penalty(&q, 0, prm.x, &d);
    back_iou(&q, 0, -1.0f, 0.0f, value, uni, iw, ih);
    back_distance_penalty(&q, 0, 1.0f, penalty, &d);
    *gp = q.gp;
    *gt = q.gt;
    return 1.0f - value + penalty;
}

/* prm = (eps, 1 for mmdetection's variant). 1 − IoU + ρ²/(c² + eps) + α·v with α constant. */
inline vfloat ciou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    const int mmdet = prm.y != 0.0f;
    const float eps = prm.x;
    const float diou_eps = mmdet ? eps : 1e-7f;
    const float aspect_scale = (float)(4.0 / (M_PI * M_PI));
    pair_t q = make_pair(p, t);
    vfloat uni, iw, ih;
    distance_t d;
    vfloat value = pair_iou(&q, mmdet, diou_eps, &uni, &iw, &ih);
    vfloat penalty = distance_penalty(&q, mmdet, diou_eps, &d);
    vfloat w = width_of(p), tw = width_of(t);
    vfloat h = height_of(p), th = height_of(t);
    h = mmdet ? h + eps : select(h, (vfloat)(eps), h == 0.0f);
    th = mmdet ? th + eps : select(th, (vfloat)(eps), th == 0.0f);
    vfloat angle = atan(tw / th) - atan(w / h);
    vfloat v = aspect_scale * angle * angle;
    vfloat inter = iw * ih;
    vfloat complement = ((width_of(p) * height_of(p) - inter) + (tw * height_of(t) - inter) + diou_eps) / uni;
    vfloat alpha, g_ciou, loss;
    if (mmdet)
    {
        alpha = select((vfloat)(0.0f), v / (complement + v), value > 0.5f && v != 0.0f);
        vfloat c = value - (penalty + alpha * v);
        loss = 1.0f - nan_min(nan_max(c, -1.0f), 1.0f);
        g_ciou = clamp_one_slope(c);
    }
    else
    {
        alpha = select(v / (complement + v + eps), (vfloat)(0.0f), v == 0.0f);
        loss = 1.0f - value + penalty + alpha * v;
        g_ciou = -1.0f;
    }
    back_iou(&q, mmdet, g_ciou, 0.0f, value, uni, iw, ih);
    back_distance_penalty(&q, mmdet, -g_ciou, penalty, &d);
    vfloat g_angle = -g_ciou * alpha * (2.0f * aspect_scale) * angle;
    vfloat ps = g_angle / (w * w + h * h);
    vfloat ts = g_angle / (tw * tw + th * th);
    back_sizes(&q, -ps * h, ps * w, ts * th, -ts * tw);
    *gp = q.gp;
    *gt = q.gt;
    return loss;
}

/* prm.x = eps. EIoU: 1 − IoU + ρ²/(c² + eps) + Δw²/(C_w² + eps) + Δh²/(C_h² + eps). */
inline vfloat eiou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat uni, iw, ih;
    distance_t d;
    vfloat value = pair_iou(&q, 0, prm.x, &uni, &iw, &ih);
    vfloat penalty = distance_penalty(&q, 0, prm.x, &d);
    vfloat w_gap = width_of(p) - width_of(t), h_gap = height_of(p) - height_of(t);
    vfloat w_scale = d.width * d.width + prm.x, h_scale = d.height * d.height + prm.x;
    vfloat w_term = w_gap * w_gap / w_scale, h_term = h_gap * h_gap / h_scale;
    back_iou(&q, 0, -1.0f, 0.0f, value, uni, iw, ih);
    back_distance_penalty(&q, 0, 1.0f, penalty, &d);
    vfloat g_w = 2.0f * w_gap / w_scale, g_h = 2.0f * h_gap / h_scale;
    back_sizes(&q, g_w, g_h, -g_w, -g_h);
    back_enclosure(&q, -2.0f * d.width * w_term / w_scale, -2.0f * d.height * h_term / h_scale);
    *gp = q.gp;
    *gt = q.gt;
    return 1.0f - value + penalty + w_term + h_term;
}

/* prm = (eps, smooth point s). mmdetection's eiou_loss: smooth(1 − I/U) with its piecewise intersection. */
inline vfloat extended_iou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat ex = nan_min(p.x1, t.x1), ey = nan_min(p.y1, t.y1);
    vfloat ix1 = nan_max(p.x1, t.x1), iy1 = nan_max(p.y1, t.y1);
    vfloat ix2 = nan_min(p.x2, t.x2), iy2 = nan_min(p.y2, t.y2);
    vfloat xmin = nan_min(ix1, ix2), ymin = nan_min(iy1, iy2), xmax = nan_max(ix1, ix2), ymax = nan_max(iy1, iy2);
    vfloat a = ix2 - ex, b = iy2 - ey, c = xmin - ex, dd = ymin - ey;
    vfloat e = ix1 - ex, f = ymax - ey, g = xmax - ex, h = iy1 - ey;
    vfloat inter = a * b + c * dd - e * f - g * h;
    vfloat uni = width_of(p) * height_of(p) + width_of(t) * height_of(t) - inter + prm.x;
    vfloat qv = 1.0f - inter / uni;
    float s = prm.y;
    vint quadratic = qv < s;
    vfloat loss = select(qv - 0.5f * s, 0.5f * qv * qv / s, quadratic);
    vfloat g_q = select((vfloat)(1.0f), qv / s, quadratic);
    vfloat g_union = g_q * inter / (uni * uni);
    back_areas(&q, g_union, g_union);
    vfloat gi = -g_q / uni - g_union;
    vfloat g_xmin = gi * dd, g_ymin = gi * c, g_ymax = -gi * e, g_xmax = -gi * h;
    vfloat g_ix2 = gi * b, g_iy2 = gi * a, g_ix1 = -gi * f, g_iy1 = -gi * g;
    vfloat g_ex = -(gi * b + gi * dd - gi * f - gi * h);
    vfloat g_ey = -(gi * a + gi * c - gi * e - gi * g);
    /* xmin = min(i1x, i2x) (c), xmax = max(i1x, i2x) (g), and the same in y. */
    split(g_xmin, min_share(ix1, ix2), &g_ix1, &g_ix2);
    split(g_xmax, max_share(ix1, ix2), &g_ix1, &g_ix2);
    split(g_ymin, min_share(iy1, iy2), &g_iy1, &g_iy2);
    split(g_ymax, max_share(iy1, iy2), &g_iy1, &g_iy2);
    back_edges(&q, 0, g_ix1, g_iy1, g_ix2, g_iy2);
    back_edges(&q, 1, g_ex, g_ey, 0.0f, 0.0f);
    *gp = q.gp;
    *gt = q.gt;
    return loss;
}

/* prm = (eps, 1 for γ = Λ − 2). mmdetection's siou_loss, with Λ = 2·sin α·√(1 − sin²α) = 2|s_x·s_y|/σ² (ScyllaIoULoss's remarks). */
inline vfloat siou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    const float eps = prm.x;
    const int neg_gamma = prm.y != 0.0f;
    pair_t q = make_pair(p, t);
    vfloat uni, iw, ih, raw_w, raw_h, dx, dy;
    vfloat value = pair_iou(&q, 1, eps, &uni, &iw, &ih);
    enclosure(&q, &raw_w, &raw_h);
    vfloat cw = nan_max(raw_w, eps), ch = nan_max(raw_h, eps);
    center_offset(&q, &dx, &dy);
    vfloat sx = eps - dx, sy = eps - dy;
    vfloat sx2 = sx * sx, sy2 = sy * sy;
    vfloat sigma2 = non_zero(sx2 + sy2);
    vfloat angle_cost = 2.0f * fabs(sx * sy) / sigma2;
    vfloat gamma = neg_gamma ? angle_cost - 2.0f : 2.0f - angle_cost;
    vfloat rho_x = sx / cw * (sx / cw), rho_y = sy / ch * (sy / ch);
    vfloat exp_x = exp(gamma * rho_x), exp_y = exp(gamma * rho_y);
    vfloat distance_cost = 2.0f - exp_x - exp_y;
    vfloat w = width_of(p), tw = width_of(t);
    vfloat h = height_of(p) + eps, th = height_of(t) + eps;
    vfloat w_gap = w - tw, h_gap = h - th;
    vfloat w_max = non_zero(nan_max(w, tw)), h_max = non_zero(nan_max(h, th));
    vfloat omega_w = fabs(w_gap) / w_max, omega_h = fabs(h_gap) / h_max;
    vfloat decay_w = exp(-omega_w), decay_h = exp(-omega_h);
    vfloat rise_w = 1.0f - decay_w, rise_h = 1.0f - decay_h;
    vfloat rise_w2 = rise_w * rise_w, rise_h2 = rise_h * rise_h;
    vfloat shape_cost = rise_w2 * rise_w2 + rise_h2 * rise_h2;
    vfloat s = value - 0.5f * (distance_cost + shape_cost);
    vfloat loss = 1.0f - nan_min(nan_max(s, -1.0f), 1.0f);

    vfloat g_s = clamp_one_slope(s);
    vfloat g_cost = -0.5f * g_s;
    back_iou(&q, 1, g_s, 0.0f, value, uni, iw, ih);
    vfloat g_omega_w = g_cost * 4.0f * rise_w2 * rise_w * decay_w;
    vfloat g_omega_h = g_cost * 4.0f * rise_h2 * rise_h * decay_h;
    vfloat g_gap_w = g_omega_w * abs_slope(w_gap) / w_max, g_gap_h = g_omega_h * abs_slope(h_gap) / h_max;
    vfloat g_max_w = -g_omega_w * omega_w / w_max, g_max_h = -g_omega_h * omega_h / h_max;
    vfloat share_w = max_share(w, tw), share_h = max_share(h, th);
    back_sizes(&q, g_gap_w + g_max_w * share_w, g_gap_h + g_max_h * share_h, -g_gap_w + g_max_w * (1.0f - share_w), -g_gap_h + g_max_h * (1.0f - share_h));
    vfloat g_rho_x = -g_cost * exp_x * gamma, g_rho_y = -g_cost * exp_y * gamma;
    vfloat g_gamma = -g_cost * (exp_x * rho_x + exp_y * rho_y);
    vfloat g_angle = neg_gamma ? g_gamma : -g_gamma;
    vfloat g_balance = g_angle * 2.0f * ((sy2 - sx2) / sigma2) / sigma2;
    vfloat g_sx = g_balance * fabs(sy) * abs_slope(sx) + g_rho_x * 2.0f * sx / (cw * cw);
    vfloat g_sy = g_rho_y * 2.0f * sy / (ch * ch) - g_balance * fabs(sx) * abs_slope(sy);
    back_center_offset(&q, -g_sx, -g_sy);
    vfloat g_cw = select(-2.0f * g_rho_x * rho_x / cw, (vfloat)(0.0f), raw_w < eps);
    vfloat g_ch = select(-2.0f * g_rho_y * rho_y / ch, (vfloat)(0.0f), raw_h < eps);
    back_enclosure(&q, g_cw, g_ch);
    *gp = q.gp;
    *gt = q.gt;
    return loss;
}

/* The smoothed component of bounded IoU and its slope. */
inline vfloat bounded_smooth(vfloat c, float beta, vfloat* slope)
{
    vint quadratic = c < beta;
    *slope = select((vfloat)(1.0f), c / beta, quadratic);
    return select(c - 0.5f * beta, 0.5f * c * c / beta, quadratic);
}

/* Center component 1 − max((w_t − 2|Δ|)/(w_t + 2|Δ| + eps), 0) as min((4|Δ| + eps)/(w_t + 2|Δ| + eps), 1),
 * free of cancellation; *g_delta = ∂/∂Δ. */
inline vfloat bounded_offset(vfloat delta, vfloat target_size, float beta, float eps, vfloat* g_delta)
{
    vfloat twice = 2.0f * fabs(delta);
    vfloat denominator = target_size + twice + eps;
    vfloat complement = (2.0f * twice + eps) / denominator;
    vfloat slope;
    vfloat value = bounded_smooth(nan_min(complement, 1.0f), beta, &slope);
    vfloat g_complement = slope * min_share(complement, (vfloat)(1.0f));
    *g_delta = g_complement * (2.0f * (2.0f * target_size + eps)) / (denominator * denominator) * abs_slope(delta);
    return value;
}

/* Size component 1 − min(w_t/(w_p + eps), w_p/(w_t + eps)) as max((w_p + eps − w_t)/(w_p + eps),
 * (w_t + eps − w_p)/(w_t + eps)), free of cancellation; *g_size = ∂/∂w_p. */
inline vfloat bounded_size(vfloat size, vfloat target_size, float beta, float eps, vfloat* g_size)
{
    vfloat shifted = size + eps, target_shifted = target_size + eps;
    vfloat from_shrink = (shifted - target_size) / shifted, from_grow = (target_shifted - size) / target_shifted;
    vfloat slope;
    vfloat value = bounded_smooth(nan_max(from_shrink, from_grow), beta, &slope);
    vfloat sh = max_share(from_shrink, from_grow);
    *g_size = slope * (sh * target_size / (shifted * shifted) - (1.0f - sh) / target_shifted);
    return value;
}

/* prm = (β, eps). mmdetection's bounded_iou_loss, its four components summed; the target is detached. */
inline vfloat bounded_iou(box_t p, box_t t, float4 prm, box_t* gp, box_t* gt)
{
    pair_t q = make_pair(p, t);
    vfloat dx, dy, g_x, g_y, g_w, g_h;
    center_offset(&q, &dx, &dy);
    vfloat loss = bounded_offset(-dx, width_of(t), prm.x, prm.y, &g_x) + bounded_offset(-dy, height_of(t), prm.x, prm.y, &g_y)
        + bounded_size(width_of(p), width_of(t), prm.x, prm.y, &g_w) + bounded_size(height_of(p), height_of(t), prm.x, prm.y, &g_h);
    vfloat half_x = -0.5f * g_x, half_y = -0.5f * g_y;
    gp->x1 = half_x - g_w;
    gp->y1 = half_y - g_h;
    gp->x2 = half_x + g_w;
    gp->y2 = half_y + g_h;
    gt->x1 = gt->y1 = gt->x2 = gt->y2 = 0.0f;
    return loss;
}

/* FCOS centerness loss, elementwise: BCE with logits, ℓ = x·(step(x) − t) + log1p(e^−|x|), ∂ℓ/∂x = σ(x) − t (as sigmoid_difference). */
inline vfloat centerness_bce(vfloat x, vfloat t, float4 prm, vfloat* grad)
{
    vfloat decay = exp(-fabs(x));
    vfloat large = 1.0f / (1.0f + decay), small = decay * large;
    vint nonnegative = x > 0.0f;
    *grad = sigmoid_difference(select(small, large, nonnegative), select(large, small, nonnegative), t);
    return logits_cross_entropy(x, t, log1p(decay));
}
