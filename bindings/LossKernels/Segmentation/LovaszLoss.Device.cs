using System.Buffers;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.OpenCL;

namespace LossKernels.Segmentation;

/// <summary>
/// The Lovász losses on an OpenCL device (<c>kernels/opencl/segmentation.cl</c>): the same entry points as the span overloads
/// of <see cref="LovaszLoss"/>, on <see cref="DeviceBuffer{T}"/>s, with the same sort order and weights. Targets are checked on
/// the device first (the first bad position throws, nothing written).
/// </summary>
/// <remarks>
/// Per task (a group's class, or a group): the keys and payloads of every element (ignored ones carried along with a flag
/// and skipped by the walk), a stable radix sort of four 8-bit passes (per-chunk digit counts, their scan in one work-group,
/// an ordered scatter per chunk), the per-chunk foreground and background counts and their scan, and the walk. Chunks are
/// a function of the task's length (<c>LovaszHost.DeviceChunks</c>); the walk's per-chunk partials are added on the host in
/// order. Multiclass from logits: the softmax statistics first, ∂L/∂p into scratch, a chain launch last. Every call waits
/// for its result.
/// </remarks>
public static unsafe class LovaszLossDevice
{
    /// <summary>Forward only on the device: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszSoftmaxLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, SegmentationShape shape) =>
        Run(loss.Options, false, input, target ?? throw new ArgumentNullException(nameof(target)), null, null, shape, 1f);

    /// <summary>Fused forward+backward on the device: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszSoftmaxLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        float upstream = 1f) =>
        Run(loss.Options, false, input, target ?? throw new ArgumentNullException(nameof(target)), null, inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, upstream);

    /// <summary>Backward only on the device: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    public static void Backward(this LovaszSoftmaxLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, float upstream, DeviceBuffer<float> inputGrad, SegmentationShape shape) =>
        Run(loss.Options, false, input, target ?? throw new ArgumentNullException(nameof(target)), null, inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, upstream);

    /// <summary>Forward only on the device: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszHingeLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, SegmentationShape shape) =>
        Run(loss.Options, true, input, null, target ?? throw new ArgumentNullException(nameof(target)), null, shape, 1f);

    /// <summary>Fused forward+backward on the device: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszHingeLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        float upstream = 1f) =>
        Run(loss.Options, true, input, null, target ?? throw new ArgumentNullException(nameof(target)), inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, upstream);

    /// <summary>Backward only on the device: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    public static void Backward(this LovaszHingeLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> inputGrad, SegmentationShape shape) =>
        Run(loss.Options, true, input, null, target ?? throw new ArgumentNullException(nameof(target)), inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, upstream);

    private static float Run(in OverlapOptions options, bool hinge, DeviceBuffer<float> input, DeviceBuffer<long>? labels, DeviceBuffer<float>? dense,
        DeviceBuffer<float>? gradient, SegmentationShape shape, float upstream)
    {
        ArgumentNullException.ThrowIfNull(input);
        LovaszHost.Check(options, hinge, shape, input.Length, dense?.Length ?? labels!.Length);
        OpenCLDevice device = input.Device;
        DeviceChecks.Buffer(labels, device, -1, "target");
        DeviceChecks.Buffer(dense, device, -1, "target");
        DeviceChecks.Buffer(gradient, device, -1, "inputGrad");
        input.ThrowIfDisposed();
        if (gradient is not null)
        {
            ThrowHelper.IfTooShort(input.Length, gradient.Length, "inputGrad");
            DeviceChecks.IfSame(gradient, dense, "inputGrad", "target");
        }

        if (labels is not null)
            ClassTargets.Check(labels, shape.Classes, options.IgnoreIndex);
        else
            CheckBinary(dense!, options.IgnoreIndex);
        int groups = LovaszHost.Groups(options, shape), perGroup = LovaszHost.TasksPerGroup(hinge, shape), tasks = groups * perGroup;
        int length = (int)LovaszHost.GroupLength(options, hinge, shape), pixels = (int)shape.Pixels, classes = shape.Classes, spatial = shape.Spatial;
        LovaszHost.DeviceChunks(length, out int threads, out int chunk);
        double[] partials = ArrayPool<double>.Shared.Rent(Math.Max(1, tasks * threads));
        int[] classCounts = ArrayPool<int>.Shared.Rent(Math.Max(1, groups * classes));
        try
        {
            lock (device.Gate)
            {
                device.ThrowIfDisposed();
                KernelSet kernels = SegmentationProgram.Kernels(device);
                bool softmax = !hinge && options.FromLogits;
                if (!hinge)
                    CountClasses(device, kernels, labels!, shape, options, classCounts.AsSpan(0, groups * classes));
                // A task's share: 1/groups (hinge), or 1/(present classes · groups) and 0 for an absent class (softmax).
                double TaskScale(int task) => hinge ? 1d / groups : LovaszHost.TaskScale(classCounts.AsSpan(0, groups * classes), task / perGroup, task % perGroup, classes, groups);
                nint stats = softmax ? device.Scratch(0, 2L * sizeof(float) * Math.Max(pixels, 1)) : 0;
                if (softmax)
                    SegmentationProgram.SoftmaxStatistics(device, kernels, input, shape, stats);

                // The walk writes ∂L/∂p into scratch for the chain launch (softmax from logits), else the gradient itself. Slot 7, not the
                // overlap losses' slot 1: sharing it, Oclgrind flagged the chain's reads as uninitialized although every value matched.
                nint destination = gradient is null ? 0 : softmax ? device.Scratch(7, (long)sizeof(float) * Math.Max(input.Length, 1)) : gradient.Handle;
                var sort = new DeviceSort(device, kernels, length, threads, chunk, device.Partials(Math.Max(1, tasks * threads)));
                long stride = (long)classes * spatial;
                for (int task = 0; task < tasks && length > 0; task++)
                {
                    int group = task / perGroup, c = task % perGroup, firstImage = options.PerImage ? group : 0;
                    long first = hinge ? firstImage * stride : ((long)firstImage * classes + c) * spatial;
                    int span = hinge ? length : spatial;
                    float gradientScale = (float)(TaskScale(task) * upstream);
                    if (TaskScale(task) == 0d)
                    {
                        if (destination != 0)
                            sort.Clear(destination, first, span, stride);
                        continue;
                    }

                    if (hinge)
                        sort.HingeKeys(input, dense!, first, options.IgnoreIndex);
                    else
                        sort.SoftmaxKeys(input, labels!, stats, shape, firstImage, c, options);
                    sort.Sort();
                    sort.Walk(first, span, stride, gradientScale, destination, task * threads);
                }

                double loss = 0d;
                device.ReadPartials(partials.AsSpan(0, tasks * threads));
                for (int task = 0; task < tasks && length > 0; task++)
                {
                    // An absent class's partials were never written.
                    if (TaskScale(task) == 0d)
                        continue;
                    double sum = 0d;
                    foreach (double partial in partials.AsSpan(task * threads, threads))
                        sum += partial;
                    loss += TaskScale(task) * sum;
                }

                if (softmax && gradient is not null && pixels > 0)
                {
                    nint kernel = kernels.Kernel(SegmentationProgram.SoftmaxChain);
                    KernelSet.SetBuffer(kernel, 0, input.Handle);
                    KernelSet.SetBuffer(kernel, 1, stats);
                    KernelSet.SetBuffer(kernel, 2, destination);
                    KernelSet.SetValue(kernel, 3, classes);
                    KernelSet.SetValue(kernel, 4, spatial);
                    KernelSet.SetValue(kernel, 5, pixels);
                    KernelSet.SetBuffer(kernel, 6, gradient.Handle);
                    SegmentationProgram.Launch(device, kernel, pixels);
                }

                OpenCLException.ThrowIfFailed(OpenCLNative.clFinish(device.Queue), "clFinish");
                return (float)loss;
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(classCounts);
            ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Throws at the first hinge target that is not 0, 1 or the ignored value.</summary>
    private static void CheckBinary(DeviceBuffer<float> target, long? ignoreIndex)
    {
        int n = target.Length;
        if (n == 0)
            return;
        OpenCLDevice device = target.Device;
        int? fault;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint kernel = SegmentationProgram.Kernels(device).Kernel(SegmentationProgram.CheckBinary);
            KernelSet.SetBuffer(kernel, 0, target.Handle);
            KernelSet.SetValue(kernel, 1, n);
            KernelSet.SetValue(kernel, 2, ignoreIndex is null ? 0 : 1);
            KernelSet.SetValue(kernel, 3, (float)(ignoreIndex ?? 0L));
            KernelSet.SetBuffer(kernel, 4, device.FaultFlag);
            SegmentationProgram.Launch(device, kernel, n);
            fault = device.TakeFault();
        }

        if (fault is int position)
        {
            float value = 0f;
            target.Download(new Span<float>(ref value), position);
            LovaszHost.ThrowNotBinary(position, value, ignoreIndex);
        }
    }

    /// <summary>The pixels of each class per group, not ignored, into <paramref name="counts"/> [groups, C]. Call under the gate.</summary>
    private static void CountClasses(OpenCLDevice device, KernelSet kernels, DeviceBuffer<long> labels, in SegmentationShape shape, in OverlapOptions options, Span<int> counts)
    {
        int pixels = (int)shape.Pixels;
        nint kernel = kernels.Kernel(SegmentationProgram.ClassCounts);
        KernelSet.SetBuffer(kernel, 0, labels.Handle);
        KernelSet.SetValue(kernel, 1, pixels);
        KernelSet.SetValue(kernel, 2, shape.Spatial);
        KernelSet.SetValue(kernel, 3, shape.Classes);
        KernelSet.SetValue(kernel, 4, options.PerImage ? 1 : 0);
        KernelSet.SetValue(kernel, 5, options.IgnoreIndex is null ? 0 : 1);
        KernelSet.SetValue(kernel, 6, options.IgnoreIndex ?? 0L);
        KernelSet.SetBuffer(kernel, 7, device.Counters(Math.Max(1, counts.Length)));
        if (pixels > 0)
            SegmentationProgram.Launch(device, kernel, pixels);
        device.ReadCounters(counts.Length).CopyTo(counts);
    }

    /// <summary>
    /// One task's sort on the device: the key and payload buffers (scratch 2 to 5), the counts (scratch 6) and the launches
    /// of the keys, the four radix passes and the walk, in chunks of <c>LovaszHost.DeviceChunks</c>.
    /// </summary>
    private readonly struct DeviceSort
    {
        private readonly OpenCLDevice device;
        private readonly KernelSet kernels;
        private readonly int length, threads, chunk;
        private readonly nint keys, values, spareKeys, spareValues, counts, partials;

        public DeviceSort(OpenCLDevice device, KernelSet kernels, int length, int threads, int chunk, nint partials)
        {
            this.device = device;
            this.kernels = kernels;
            this.length = length;
            this.threads = threads;
            this.chunk = chunk;
            this.partials = partials;
            long bytes = sizeof(uint) * (long)Math.Max(length, 1);
            keys = device.Scratch(2, bytes);
            values = device.Scratch(3, bytes);
            spareKeys = device.Scratch(4, bytes);
            spareValues = device.Scratch(5, bytes);
            counts = device.Scratch(6, sizeof(uint) * (long)(1 << LovaszHost.DeviceRadixBits) * threads);
        }

        /// <summary>Class c's keys of the group's pixels (ignored ones flagged).</summary>
        public void SoftmaxKeys(DeviceBuffer<float> input, DeviceBuffer<long> labels, nint stats, in SegmentationShape shape, int firstImage, int c, in OverlapOptions options)
        {
            nint kernel = kernels.Kernel(SegmentationProgram.SoftmaxKeys);
            KernelSet.SetBuffer(kernel, 0, input.Handle);
            KernelSet.SetBuffer(kernel, 1, labels.Handle);
            KernelSet.SetBuffer(kernel, 2, stats);
            KernelSet.SetValue(kernel, 3, shape.Classes);
            KernelSet.SetValue(kernel, 4, shape.Spatial);
            KernelSet.SetValue(kernel, 5, firstImage);
            KernelSet.SetValue(kernel, 6, length);
            KernelSet.SetValue(kernel, 7, c);
            KernelSet.SetValue(kernel, 8, options.FromLogits ? 1 : 0);
            KernelSet.SetValue(kernel, 9, options.IgnoreIndex is null ? 0 : 1);
            KernelSet.SetValue(kernel, 10, options.IgnoreIndex ?? 0L);
            KernelSet.SetBuffer(kernel, 11, keys);
            KernelSet.SetBuffer(kernel, 12, values);
            SegmentationProgram.Launch(device, kernel, length);
        }

        /// <summary>The group's hinge keys from element <paramref name="first"/> (ignored ones flagged).</summary>
        public void HingeKeys(DeviceBuffer<float> input, DeviceBuffer<float> target, long first, long? ignoreIndex)
        {
            nint kernel = kernels.Kernel(SegmentationProgram.HingeKeys);
            KernelSet.SetBuffer(kernel, 0, input.Handle);
            KernelSet.SetBuffer(kernel, 1, target.Handle);
            KernelSet.SetValue(kernel, 2, first);
            KernelSet.SetValue(kernel, 3, length);
            KernelSet.SetValue(kernel, 4, ignoreIndex is null ? 0 : 1);
            KernelSet.SetValue(kernel, 5, (float)(ignoreIndex ?? 0L));
            KernelSet.SetBuffer(kernel, 6, keys);
            KernelSet.SetBuffer(kernel, 7, values);
            SegmentationProgram.Launch(device, kernel, length);
        }

        /// <summary>Four stable 8-bit passes; an even count, so the sorted pairs end in the first buffers.</summary>
        public void Sort()
        {
            for (int pass = 0; pass < 32 / LovaszHost.DeviceRadixBits; pass++)
            {
                bool even = pass % 2 == 0;
                nint fromKeys = even ? keys : spareKeys, fromValues = even ? values : spareValues;
                int shift = pass * LovaszHost.DeviceRadixBits;
                nint kernel = kernels.Kernel(SegmentationProgram.RadixCounts);
                KernelSet.SetBuffer(kernel, 0, fromKeys);
                KernelSet.SetValue(kernel, 1, length);
                KernelSet.SetValue(kernel, 2, chunk);
                KernelSet.SetValue(kernel, 3, shift);
                KernelSet.SetValue(kernel, 4, threads);
                KernelSet.SetBuffer(kernel, 5, counts);
                SegmentationProgram.Launch(device, kernel, threads);
                Scan((1 << LovaszHost.DeviceRadixBits) * threads);
                kernel = kernels.Kernel(SegmentationProgram.RadixScatter);
                KernelSet.SetBuffer(kernel, 0, fromKeys);
                KernelSet.SetBuffer(kernel, 1, fromValues);
                KernelSet.SetValue(kernel, 2, length);
                KernelSet.SetValue(kernel, 3, chunk);
                KernelSet.SetValue(kernel, 4, shift);
                KernelSet.SetValue(kernel, 5, threads);
                KernelSet.SetBuffer(kernel, 6, counts);
                KernelSet.SetBuffer(kernel, 7, even ? spareKeys : keys);
                KernelSet.SetBuffer(kernel, 8, even ? spareValues : values);
                SegmentationProgram.Launch(device, kernel, threads);
            }
        }

        /// <summary>The walk over the sorted pairs: per-chunk partials from <paramref name="partialOffset"/>, the gradient at each element's place when <paramref name="destination"/> is given.</summary>
        public void Walk(long first, int span, long stride, float gradientScale, nint destination, int partialOffset)
        {
            nint kernel = kernels.Kernel(SegmentationProgram.WalkCounts);
            KernelSet.SetBuffer(kernel, 0, values);
            KernelSet.SetValue(kernel, 1, length);
            KernelSet.SetValue(kernel, 2, chunk);
            KernelSet.SetValue(kernel, 3, threads);
            KernelSet.SetBuffer(kernel, 4, counts);
            SegmentationProgram.Launch(device, kernel, threads);
            Scan(2 * threads);
            kernel = kernels.Kernel(SegmentationProgram.Walk);
            KernelSet.SetBuffer(kernel, 0, keys);
            KernelSet.SetBuffer(kernel, 1, values);
            KernelSet.SetValue(kernel, 2, length);
            KernelSet.SetValue(kernel, 3, chunk);
            KernelSet.SetValue(kernel, 4, threads);
            KernelSet.SetBuffer(kernel, 5, counts);
            KernelSet.SetValue(kernel, 6, first);
            KernelSet.SetValue(kernel, 7, span);
            KernelSet.SetValue(kernel, 8, stride);
            KernelSet.SetValue(kernel, 9, gradientScale);
            KernelSet.SetValue(kernel, 10, destination != 0 ? 1 : 0);
            KernelSet.SetBuffer(kernel, 11, destination != 0 ? destination : keys);
            KernelSet.SetBuffer(kernel, 12, partials);
            KernelSet.SetValue(kernel, 13, partialOffset);
            SegmentationProgram.Launch(device, kernel, threads);
        }

        /// <summary>Zero gradient for an absent class's planes.</summary>
        public void Clear(nint destination, long first, int span, long stride)
        {
            nint kernel = kernels.Kernel(SegmentationProgram.Clear);
            KernelSet.SetBuffer(kernel, 0, destination);
            KernelSet.SetValue(kernel, 1, first);
            KernelSet.SetValue(kernel, 2, length);
            KernelSet.SetValue(kernel, 3, span);
            KernelSet.SetValue(kernel, 4, stride);
            SegmentationProgram.Launch(device, kernel, length);
        }

        /// <summary>The exclusive prefix sum of the first <paramref name="count"/> counts, by one work-group.</summary>
        private void Scan(int count)
        {
            nint kernel = kernels.Kernel(SegmentationProgram.Scan);
            KernelSet.SetBuffer(kernel, 0, counts);
            KernelSet.SetValue(kernel, 1, count);
            nuint local = ScanGroup, global = ScanGroup;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
        }
    }

    /// <summary>The scan's work-group (LOVASZ_SCAN_GROUP).</summary>
    private const int ScanGroup = 256;
}
