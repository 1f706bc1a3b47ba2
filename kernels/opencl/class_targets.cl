/* Class targets are int64 (PyTorch's dtype); a kernel that reads a target checks it before using it as an
 * index and records the first bad position with record_fault (common.h), so that no kernel reads out of
 * bounds and the host can name the offending element. */

/* Records every position whose target is neither ignore_index (when has_ignore_index) nor in [0, classes). */
kernel void check_class_targets(global const long* target, int n, long classes, long ignore_index, int has_ignore_index, volatile global int* first_fault)
{
    /* The launch is rounded up to whole work-groups: compare in size_t so that no id wraps past n. */
    size_t i = get_global_id(0);
    if (i >= (size_t)n)
        return;
    long c = target[i];
    if (!(has_ignore_index && c == ignore_index) && (c < 0 || c >= classes))
        record_fault(first_fault, (int)i);
}
