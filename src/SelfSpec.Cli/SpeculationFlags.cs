using System.CommandLine;
using System.Globalization;
using SelfSpec.Decoding;

namespace SelfSpec.Cli;

/// <summary>The speculation flags of <c>generate</c>: --alpha --tau --d-max --w-max --exit-layers and the static method's layer and length.</summary>
internal sealed class SpeculationFlags
{
    private static readonly SpeculationOptions Defaults = SpeculationOptions.Default;

    private readonly Option<float> _alpha = new("--alpha") { Description = "layer-wise annealing: T_l = 1 + alpha (1 - l/L)", DefaultValueFactory = _ => Defaults.Alpha };
    private readonly Option<float> _tau = new("--tau") { Description = "exit when the annealed max softmax reaches tau", DefaultValueFactory = _ => Defaults.Tau };
    private readonly Option<int> _dMax = new("--d-max") { Description = "depth at which a token that has not exited stops drafting (0 = 80% of the layers)", DefaultValueFactory = _ => Defaults.MaxDepth };
    private readonly Option<int> _wMax = new("--w-max") { Description = "most drafts per round", DefaultValueFactory = _ => Defaults.MaxDrafts };
    private readonly Option<string?> _exitLayers = new("--exit-layers") { Description = "candidate exit layers, e.g. 4,8,12 (default: 20%, 40%, 60%, 80% of the layers)" };
    private readonly Option<int> _staticLayer = new("--static-layer") { Description = "exit layer of --method static (0 = half the layers)", DefaultValueFactory = _ => Defaults.StaticExitLayer };
    private readonly Option<int> _staticLength = new("--static-length") { Description = "drafts per round of --method static", DefaultValueFactory = _ => Defaults.StaticDraftLength };
    private readonly Option<bool> _noBound = new("--no-price-bound") { Description = "draft whenever the method's rules allow, even when it does not pay" };

    public static SpeculationFlags Create() => new();

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_alpha);
        cmd.Options.Add(_tau);
        cmd.Options.Add(_dMax);
        cmd.Options.Add(_wMax);
        cmd.Options.Add(_exitLayers);
        cmd.Options.Add(_staticLayer);
        cmd.Options.Add(_staticLength);
        cmd.Options.Add(_noBound);
    }

    /// <summary>The settings: <paramref name="defaults"/> (the model's calibrated ones, or the built-in defaults) with the flags given on the command line.</summary>
    public SpeculationOptions Read(ParseResult r, SpeculationOptions defaults)
    {
        bool Given(Option o) => r.GetResult(o) is { Implicit: false };
        return defaults with
        {
            Alpha = Given(_alpha) ? r.GetValue(_alpha) : defaults.Alpha,
            Tau = Given(_tau) ? r.GetValue(_tau) : defaults.Tau,
            MaxDepth = Given(_dMax) ? r.GetValue(_dMax) : defaults.MaxDepth,
            MaxDrafts = Given(_wMax) ? r.GetValue(_wMax) : defaults.MaxDrafts,
            ExitLayers = Given(_exitLayers) ? ParseLayers(r.GetValue(_exitLayers)) : defaults.ExitLayers,
            StaticExitLayer = Given(_staticLayer) ? r.GetValue(_staticLayer) : defaults.StaticExitLayer,
            StaticDraftLength = Given(_staticLength) ? r.GetValue(_staticLength) : defaults.StaticDraftLength,
            PriceBound = !r.GetValue(_noBound) && defaults.PriceBound,
        };
    }

    private static int[] ParseLayers(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int l) && l > 0
                ? l
                : throw new InvalidRequestException($"--exit-layers: '{p}' is not a positive layer number"))
            .ToArray();
    }
}
