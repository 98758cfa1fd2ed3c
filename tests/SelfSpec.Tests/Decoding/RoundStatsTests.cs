using System.Text.Json;
using SelfSpec.Decoding;
using SelfSpec.Quantization;
using SelfSpec.Tests.Model;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// The round statistics (issue 18, item 5): rounds with a draft, tokens committed per round by the source of the
/// round's first draft, and the price of rows from the cost table, consistent with the counts they summarize.
/// </summary>
public sealed class RoundStatsTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(DecodingMethod.SpecBound)]
    [InlineData(DecodingMethod.Hybrid)]
    [InlineData(DecodingMethod.Lookup)]
    public void RoundCountsAddUp(DecodingMethod method)
    {
        string path = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 5, new TinyModels.Shape(Layers: 3));
        using var h = new ModelHarness(path, threads: 2);
        int[] prompt = [10, 20, 30, 40, 50, 60, 10, 20, 30, 40, 50, 60, 10, 20];
        var r = DecodingHarness.Run(h, method, prompt, 48, DecodingHarness.Forced with { MaxDrafts = 4 });
        var s = r.Stats;
        Assert.True(s.RoundsWithDraft > 0, $"{method} drafted in no round");
        Assert.True(s.RoundsWithDraft <= s.Rounds);
        Assert.Equal(s.RoundsWithDraft, s.RoundsBySource.Values.Sum());
        // Every round commits its accepted drafts and one verified token; the last round may be cut short by the length limit.
        int committed = s.CommittedBySource.Values.Sum() + (s.Rounds - s.RoundsWithDraft);
        Assert.InRange(committed, s.GeneratedTokens - 1, s.GeneratedTokens - 1 + 4);
        Assert.Equal(s.Accepted + s.RoundsWithDraft, s.CommittedBySource.Values.Sum());
        foreach (var (source, perRound) in s.CommittedPerRoundBySource)
            Assert.InRange(perRound, 1.0, 5.0);
        Assert.Equal((double)s.RoundsWithDraft / s.Rounds, s.DraftRoundShare);
        // The pass cost table: one row is the unit, a pass of n rows costs at least as much as none of its rows.
        Assert.NotEmpty(s.PassCostByRows);
        Assert.Equal(1.0, s.PassCostByRows[0], 9);
        Assert.Equal(s.PassCostByRows.Length - 1, s.ExtraRowCostByRows.Length);
        for (int n = 2; n <= s.PassCostByRows.Length; n++)
            Assert.Equal((s.PassCostByRows[n - 1] - 1) / (n - 1), s.ExtraRowCostByRows[n - 2], 9);

        using var json = JsonDocument.Parse(JsonSerializer.Serialize(s, SelfSpecJsonContext.Default.DecodeStats));
        var root = json.RootElement;
        Assert.Equal(s.PassCostByRows.Length, root.GetProperty("row_cost").GetProperty("pass_by_rows").GetArrayLength());
        Assert.Equal(s.ExtraRowCostByRows.Length, root.GetProperty("row_cost").GetProperty("extra_row_by_rows").GetArrayLength());
        Assert.Equal(Math.Round(s.DraftRoundShare, 4), root.GetProperty("draft_round_share").GetDouble());
        Assert.Equal(s.RoundsWithDraft, root.GetProperty("rounds_with_draft").GetInt32());
        Assert.Equal(s.CommittedPerRoundBySource.Count, root.GetProperty("committed_per_round_by_source").EnumerateObject().Count());
    }

    [Fact]
    public void AnExitDraftLimitCapsExitDraftsNotLookupCopies()
    {
        // A sidecar's w_max (MaxExitDrafts) is how many exit drafts pay; lookup copies in the same generation keep w_max.
        string path = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 5, new TinyModels.Shape(Layers: 3));
        using var h = new ModelHarness(path, threads: 2);
        int[] prompt = [10, 20, 30, 40, 50, 60, 10, 20, 30, 40, 50, 60, 10, 20];
        var ar = DecodingHarness.Run(h, DecodingMethod.Autoregressive, prompt, 48).OutputTokens;
        var capped = DecodingHarness.Forced with { MaxDrafts = 4, MaxExitDrafts = 1 };
        var exits = DecodingHarness.Run(h, DecodingMethod.SpecBound, prompt, 48, capped);
        Assert.True(exits.Stats.Drafted > 0);
        Assert.True(exits.Stats.Drafted <= exits.Stats.Rounds, $"{exits.Stats.Drafted} exit drafts in {exits.Stats.Rounds} rounds");
        var uncapped = DecodingHarness.Run(h, DecodingMethod.SpecBound, prompt, 48, capped with { MaxExitDrafts = 0 });
        Assert.True(uncapped.Stats.Drafted > uncapped.Stats.Rounds, "without the cap forced exits draft several a round");
        var lookup = DecodingHarness.Run(h, DecodingMethod.Lookup, prompt, 48, capped);
        Assert.True(lookup.Stats.Drafted > lookup.Stats.Rounds, $"{lookup.Stats.Drafted} lookup drafts in {lookup.Stats.Rounds} rounds");
        foreach (var r in new[] { exits, uncapped, lookup })
            Assert.Equal(ar, r.OutputTokens);
    }

    [Fact]
    public void AutoregressiveDecodingHasNoDraftRounds()
    {
        string path = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 5, new TinyModels.Shape(Layers: 3));
        using var h = new ModelHarness(path, threads: 1);
        var s = DecodingHarness.Run(h, DecodingMethod.Autoregressive, [1, 2, 3], 10).Stats;
        Assert.Equal(0, s.RoundsWithDraft);
        Assert.Equal(0, s.DraftRoundShare);
        Assert.Empty(s.RoundsBySource);
        Assert.Empty(s.PassCostByRows);
    }
}
