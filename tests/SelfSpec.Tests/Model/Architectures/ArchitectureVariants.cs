using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>The tiny models of each architecture beyond llama and qwen2 that the oracle and invariance tests write.</summary>
internal static class ArchitectureVariants
{
    /// <summary>A case: the file's architecture, its shape, and what it adds to llama's tensors and keys.</summary>
    public sealed record Variant(string Architecture, TinyModels.Shape Shape, TinyModels.Extras Extras);

    /// <summary>The gemma3-pattern-array variant's per-layer sliding flags.</summary>
    private static readonly bool[] Gemma3PatternArray = [true, true, true, true, true, false];

    public static readonly Dictionary<string, Variant> All = new()
    {
        // Llama 3.1/3.2: one divisor per rotary pair, between 1 (fast pairs) and 8 (slow pairs) as llama3 scaling makes them.
        ["llama-rope-freqs"] = new("llama", new TinyModels.Shape(), new TinyModels.Extras
        {
            Tensors = (w, rng, headDim) =>
            {
                var f = new float[headDim / 2];
                for (int i = 0; i < f.Length; i++) f[i] = 1f + 7f * (float)rng.NextDouble();
                w.AddTensor("rope_freqs.weight", GgmlType.F32, [f.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()));
            },
        }),
        // Qwen3: head size 128 from key_length at width 256 (query width 512), per-head Q/K norms.
        ["qwen3"] = new("qwen3", new TinyModels.Shape(), new TinyModels.Extras { HeadDim = 128, HeadNorms = ["attn_q_norm", "attn_k_norm"] }),
        // SmolLM3: four layers, so layer 3 runs without RoPE.
        ["smollm3"] = new("smollm3", new TinyModels.Shape(Layers: 4), new TinyModels.Extras()),
        // Gemma 2: tied head, post-norms, GELU, a window of 8 on even layers, soft-caps small enough to bite.
        ["gemma2"] = new("gemma2", new TinyModels.Shape(Tied: true), new TinyModels.Extras
        {
            LayerNorms = ["post_attention_norm", "post_ffw_norm"],
            Metadata = (w, a) => w.Add($"{a}.attention.sliding_window", 8u).Add($"{a}.attn_logit_softcapping", 1.5f).Add($"{a}.final_logit_softcapping", 4f),
        }),
        // Gemma 3: Q/K norms, six layers so the default pattern gives five local layers (window 8, RoPE base 10000
        // unscaled) and one global (linear RoPE scaling 8).
        ["gemma3"] = new("gemma3", new TinyModels.Shape(Layers: 6, Tied: true), new TinyModels.Extras
        {
            LayerNorms = ["post_attention_norm", "post_ffw_norm"],
            HeadNorms = ["attn_q_norm", "attn_k_norm"],
            Metadata = (w, a) => w.Add($"{a}.attention.sliding_window", 8u).Add($"{a}.rope.scaling.type", "linear").Add($"{a}.rope.scaling.factor", 8f),
        }),
        // Phi-3: fused QKV and gate+up, LongRoPE factors with an original context of 128, so a 256-position model
        // uses the long ones (llama.cpp and this engine both choose by the context they run with).
        ["phi3"] = new("phi3", new TinyModels.Shape(), new TinyModels.Extras
        {
            Fused = true,
            Metadata = (w, a) => w.Add($"{a}.rope.scaling.original_context_length", 128u),
            Tensors = (w, rng, headDim) =>
            {
                foreach (string name in new[] { "rope_factors_short.weight", "rope_factors_long.weight" })
                {
                    var f = new float[headDim / 2];
                    for (int i = 0; i < f.Length; i++) f[i] = 1f + 7f * (float)rng.NextDouble();
                    w.AddTensor(name, GgmlType.F32, [f.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()));
                }
            },
        }),
        // Phi-3.5-mini / Phi-4-mini: LongRoPE with its attention factor (rope.scaling.attn_factor, sqrt(1 + ln 32 / ln 4096)
        // for a 128k model trained at 4k) and, as Phi-4-mini, partial rotary (3/4 of each head).
        ["phi3-attn-factor"] = new("phi3", new TinyModels.Shape(), new TinyModels.Extras
        {
            Fused = true,
            Metadata = (w, a) => w.Add($"{a}.rope.scaling.original_context_length", 128u).Add($"{a}.rope.scaling.attn_factor", 1.1902381f)
                .Add($"{a}.rope.dimension_count", 48u),
            Tensors = (w, rng, headDim) =>
            {
                foreach (string name in new[] { "rope_factors_short.weight", "rope_factors_long.weight" })
                {
                    var f = new float[48 / 2];
                    for (int i = 0; i < f.Length; i++) f[i] = 1f + 7f * (float)rng.NextDouble();
                    w.AddTensor(name, GgmlType.F32, [f.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()));
                }
            },
        }),
        // Qwen3 converted for a long context: YaRN, factor 4 over an original context of 64 (so the slow pairs interpolate).
        ["qwen3-yarn"] = new("qwen3", new TinyModels.Shape(), new TinyModels.Extras
        {
            HeadDim = 128,
            HeadNorms = ["attn_q_norm", "attn_k_norm"],
            Metadata = (w, a) => w.Add($"{a}.rope.scaling.type", "yarn").Add($"{a}.rope.scaling.factor", 4f)
                .Add($"{a}.rope.scaling.original_context_length", 64u),
        }),
        // Gemma 3 as newer conversions write it: attention.sliding_window_pattern as one bool per layer (true: sliding),
        // here the five-local-one-global pattern of the real models.
        ["gemma3-pattern-array"] = new("gemma3", new TinyModels.Shape(Layers: 6, Tied: true), new TinyModels.Extras
        {
            LayerNorms = ["post_attention_norm", "post_ffw_norm"],
            HeadNorms = ["attn_q_norm", "attn_k_norm"],
            Metadata = (w, a) => w.Add($"{a}.attention.sliding_window", 8u).Add($"{a}.rope.scaling.type", "linear").Add($"{a}.rope.scaling.factor", 8f)
                .Add($"{a}.attention.sliding_window_pattern", Gemma3PatternArray),
        }),
    };
}
