using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="GramStyleLoss"/> on an engine's ILGPU memory, as the OpenCL kernels: 16×16 tiles (4×4 on the CPU accelerator, whose groups
/// hold 16 threads) of every image's Gram with the features through shared memory (<see cref="GramTiles"/>), a pass per Gram entry with
/// <see cref="GramStyleMath"/> (the squared differences the item kernel adds, and the backward's matrix D), and tiles of D·F
/// (<see cref="BackwardTiles"/>). Each Gram and gradient entry is
/// one fused multiply-add chain in index order, the CPU's SYRK's and SGEMM's bits. The Grams and D live in the accelerator's scratch.
/// </summary>
public static class IlgpuGramStyleLoss
{
    /// <summary>The most a tile's side is (the shared memory's extent); smaller where an accelerator's groups are (the CPU accelerator's 16 threads).</summary>
    private const int Tile = 16;

    private const int GramSlot = 0, SlopesSlot = 1;

    /// <summary>The Gram matrices of <paramref name="images"/> images' features into <paramref name="gram"/> ([N, C, C]), as the span overload's.</summary>
    /// <param name="loss">The loss (its normalization).</param>
    /// <param name="features">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="gram">Receives N·C² floats; must not overlap the features.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ComputeGram(this GramStyleLoss loss, ArrayView<float> features, int images, int channels, ArrayView<float> gram, AcceleratorStream? stream = null)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(features, nameof(features));
        GramStyleShape shape = GramStyleShape.Of(features.Length, images, channels, nameof(features));
        ViewChecks.Destination(gram, accelerator, (long)shape.GramLength * images, nameof(gram));
        ViewChecks.IfOverlaps(features, features.Length, gram, (long)shape.GramLength * images, nameof(gram), nameof(features));
        if (images == 0)
            return;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            LaunchGram(state, queue, features, gram, shape, GramStyleMath.GramScale(loss.Normalization, channels, shape.Spatial));
            queue.Synchronize();
        }
    }

    /// <summary>Fused forward+backward: the span overload's L and gradient.</summary>
    /// <param name="loss">The loss (its normalization).</param>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input or the target.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float ForwardBackward(this GramStyleLoss loss, ArrayView<float> input, ArrayView<float> targetGram, int images, int channels,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (!ViewChecks.IsPresent(inputGrad))
            ThrowHelper.Argument(nameof(inputGrad), "inputGrad is required (got default(ArrayView)).");
        return Run(loss, input, targetGram, images, channels, inputGrad, reduction, upstream, stream, accumulate: false);
    }

    /// <summary>Forward only.</summary>
    /// <param name="loss">The loss (its normalization).</param>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float Forward(this GramStyleLoss loss, ArrayView<float> input, ArrayView<float> targetGram, int images, int channels,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        Run(loss, input, targetGram, images, channels, default, reduction, 1f, stream, accumulate: false);

    /// <summary>Backward only.</summary>
    /// <param name="loss">The loss (its normalization).</param>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this GramStyleLoss loss, ArrayView<float> input, ArrayView<float> targetGram, int images, int channels, float upstream,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, input, targetGram, images, channels, inputGrad, reduction, upstream, stream);

    /// <summary>The loss, and with a gradient its backward: written, or with <paramref name="accumulate"/> added to the gradient's values.</summary>
    internal static float Run(GramStyleLoss loss, ArrayView<float> input, ArrayView<float> targetGram, int images, int channels, ArrayView<float> gradient,
        Reduction reduction, float upstream, AcceleratorStream? stream, bool accumulate)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        ViewChecks.Required(targetGram, accelerator, -1, nameof(targetGram));
        GramStyleShape shape = GramStyleShape.OfCall(input.Length, targetGram.Length, images, channels, reduction);
        bool backward = ViewChecks.IsPresent(gradient);
        if (backward)
        {
            ViewChecks.Destination(gradient, accelerator, input.Length, "inputGrad");
            ViewChecks.IfOverlaps(input, input.Length, gradient, input.Length, "inputGrad", nameof(input));
            ViewChecks.IfOverlaps(targetGram, targetGram.Length, gradient, input.Length, "inputGrad", nameof(targetGram));
        }

        if (shape.Images == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;
        int entries = checked(shape.Images * shape.GramLength);
        float scale = GramStyleMath.GramScale(loss.Normalization, channels, shape.Spatial);
        double perImage = reduction == Reduction.Mean ? 1d / shape.Images : 1d;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            ArrayView<float> gram = state.Scratch(GramSlot, entries), slopes = backward ? state.Scratch(SlopesSlot, entries) : default;
            LaunchGram(state, queue, input, gram, shape, scale);
            float factor = GramStyleMath.SlopeFactor(loss.Normalization, channels, shape.Spatial, upstream, perImage);
            double sum = ItemKernel.Launch(new GramStyleSlopesPass(gram, targetGram, slopes, channels, shape.TargetImages == 1 ? 0 : 1, factor, entries), accelerator, queue);
            if (backward)
            {
                int side = Side(accelerator);
                var config = new KernelConfig(new Index3D(Groups(shape.Spatial, side), Groups(channels, side), shape.Images), new Index3D(side, side, 1));
                BackwardKernel.For(state)(queue, config, slopes, input, gradient, channels, shape.Spatial, accumulate ? 1 : 0);
            }

            queue.Synchronize();
            return (float)(GramStyleMath.LossWeight(loss.Normalization, channels, shape.Spatial) * sum * perImage);
        }
    }

    private static int Groups(int extent, int side) => (extent + side - 1) / side;

    /// <summary>A tile's side on <paramref name="accelerator"/>: 16, halved until a tile's threads fit in a group.</summary>
    private static int Side(Accelerator accelerator)
    {
        int side = Tile;
        while (side > 1 && side * side > accelerator.MaxNumThreadsPerGroup)
            side /= 2;
        return side;
    }

    private static void LaunchGram(LossAccelerator state, AcceleratorStream queue, ArrayView<float> features, ArrayView<float> gram, GramStyleShape shape, float scale)
    {
        int side = Side(state.Accelerator);
        var config = new KernelConfig(new Index3D(Groups(shape.Channels, side), Groups(shape.Channels, side), shape.Images), new Index3D(side, side, 1));
        GramKernel.For(state)(queue, config, features, gram, shape.Channels, shape.Spatial, scale);
    }

    private static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float>> GramKernel =
        new(accelerator => accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, float>(GramTiles));

    private static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>> BackwardKernel =
        new(accelerator => accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BackwardTiles));

    /// <summary>
    /// G[n, i, j] = scale·Σ_k x[n, i, k]·x[n, j, k]: a tile of G per group (16×16 on a GPU; j along x, i along y, the image along z), as many k's of the
    /// tile's rows i and rows j at a time through shared memory; each entry one fused multiply-add chain in k order.
    /// </summary>
    private static void GramTiles(ArrayView<float> x, ArrayView<float> gram, int channels, int spatial, float scale)
    {
        ArrayView<float> rowsI = SharedMemory.Allocate<float>(Tile * (Tile + 1)), rowsJ = SharedMemory.Allocate<float>(Tile * (Tile + 1));
        int side = Group.DimX, lj = Group.IdxX, li = Group.IdxY, n = Grid.IdxZ;
        int i0 = Grid.IdxY * side, j0 = Grid.IdxX * side, i = i0 + li, j = j0 + lj;
        long image = (long)n * channels * spatial;
        float sum = 0f;
        for (int k0 = 0; k0 < spatial; k0 += side)
        {
            // Loads at indices clamped into the features, the values past them then dropped: never an address past the data, however the
            // compiler orders the load and the choice (as the OpenCL kernel).
            int k = Math.Min(k0 + lj, spatial - 1);
            float a = x[image + (long)Math.Min(i0 + li, channels - 1) * spatial + k], b = x[image + (long)Math.Min(j0 + li, channels - 1) * spatial + k];
            rowsI[li * (Tile + 1) + lj] = i0 + li < channels && k0 + lj < spatial ? a : 0f;
            rowsJ[li * (Tile + 1) + lj] = j0 + li < channels && k0 + lj < spatial ? b : 0f;
            Group.Barrier();
            int depth = Math.Min(side, spatial - k0);
            for (int kk = 0; kk < depth; kk++)
                sum = IlgpuMath.MultiplyAdd(rowsI[li * (Tile + 1) + kk], rowsJ[lj * (Tile + 1) + kk], sum);
            Group.Barrier();
        }

        if (i < channels && j < channels)
            gram[((long)n * channels + i) * channels + j] = GramStyleMath.Scaled(sum, scale);
    }

    /// <summary>
    /// gradient[n, c, m] = Σ_k D[n, c, k]·x[n, k, m]: a tile per group (16×16 on a GPU; m along x, c along y, the image along z), as many k's of D's
    /// rows and the features' columns at a time through shared memory; each entry one fused multiply-add chain in k order, continuing from the
    /// gradient's value when <paramref name="accumulate"/> is not 0.
    /// </summary>
    private static void BackwardTiles(ArrayView<float> slopes, ArrayView<float> x, ArrayView<float> gradient, int channels, int spatial, int accumulate)
    {
        ArrayView<float> d = SharedMemory.Allocate<float>(Tile * (Tile + 1)), f = SharedMemory.Allocate<float>(Tile * (Tile + 1));
        int side = Group.DimX, lm = Group.IdxX, lc = Group.IdxY, n = Grid.IdxZ;
        int c = Grid.IdxY * side + lc, m = Grid.IdxX * side + lm;
        long square = (long)n * channels * channels, image = (long)n * channels * spatial, at = image + (long)Math.Min(c, channels - 1) * spatial + Math.Min(m, spatial - 1);
        float sum = accumulate != 0 && c < channels && m < spatial ? gradient[at] : 0f;
        for (int k0 = 0; k0 < channels; k0 += side)
        {
            // Clamped loads, as in the Gram's tiles.
            float slope = slopes[square + (long)Math.Min(c, channels - 1) * channels + Math.Min(k0 + lm, channels - 1)];
            float feature = x[image + (long)Math.Min(k0 + lc, channels - 1) * spatial + Math.Min(m, spatial - 1)];
            d[lc * (Tile + 1) + lm] = c < channels && k0 + lm < channels ? slope : 0f;
            f[lc * (Tile + 1) + lm] = k0 + lc < channels && m < spatial ? feature : 0f;
            Group.Barrier();
            int depth = Math.Min(side, channels - k0);
            for (int kk = 0; kk < depth; kk++)
                sum = IlgpuMath.MultiplyAdd(d[lc * (Tile + 1) + kk], f[kk * (Tile + 1) + lm], sum);
            Group.Barrier();
        }

        if (c < channels && m < spatial)
            gradient[at] = sum;
    }
}

/// <summary>Entry q of the N Grams: e = G − A (its square is the loss the item kernel adds) and, with slopes, D = factor·(G − ½(A + Aᵀ)).</summary>
internal readonly struct GramStyleSlopesPass(ArrayView<float> gram, ArrayView<float> target, ArrayView<float> slopes, int channels, int perImageTarget, float factor,
    long entries) : IItemPass
{
    private readonly ArrayView<float> gram = gram, target = target, slopes = slopes;
    private readonly int channels = channels, perImageTarget = perImageTarget;
    private readonly float factor = factor;
    private readonly long entries = entries;

    public long Length => entries;

    public PassFlags Flags => slopes.IsValid ? PassFlags.Reduce | PassFlags.StoreGradient : PassFlags.Reduce;

    public float Run(long q)
    {
        long square = (long)channels * channels, n = q / square, r = q - n * square;
        long i = r / channels, j = r - i * channels, a = perImageTarget != 0 ? n * square : 0;
        float g = gram[q], style = target[a + r];
        float e = GramStyleMath.Difference(g, style);
        if (slopes.IsValid)
            slopes[q] = GramStyleMath.Slope(g, style, target[a + j * channels + i], factor);
        return e * e;
    }
}

/// <summary>A <see cref="GramStyleBoundLoss"/> on an ILGPU accelerator: the input and the style (its features or its Gram) uploaded once.</summary>
internal sealed class IlgpuGramStyleRun(GramStyleBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.styleFeatures ?? bound.targetGram, [], [], null, extra: bound.styleFeatures is null ? null : new float[bound.targetGram.Length])
{
    public override void Run(LossMode mode)
    {
        ArrayView<float> targetGram = Target;
        if (bound.styleFeatures is not null)
        {
            bound.loss.ComputeGram(Target, bound.styleImages, bound.channels, Extra, Stream);
            targetGram = Extra;
        }

        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, targetGram, bound.images, bound.channels, bound.reduction, Stream);
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, targetGram, bound.images, bound.channels, Gradient, bound.reduction, bound.upstream, Stream);
        else
            bound.loss.Backward(Input, targetGram, bound.images, bound.channels, bound.upstream, Gradient, bound.reduction, Stream);
        Finish();
    }
}
