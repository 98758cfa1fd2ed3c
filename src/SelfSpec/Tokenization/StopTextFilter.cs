using System.Text;

namespace SelfSpec.Tokenization;

/// <summary>
/// Turns generated tokens into the text a caller may see, cut before the first stop sequence. Text that could still
/// be the start of a stop sequence is held back until the next tokens show whether it is one, so a stop text is
/// never shown, whatever the tokens or rounds it spans.
/// </summary>
internal sealed class StopTextFilter
{
    private readonly StreamingDetokenizer _detokenizer;
    private readonly IReadOnlyList<string> _stops;
    private readonly StringBuilder _held = new();    // decoded but not yet released
    private readonly StringBuilder _released = new(); // everything released so far

    public StopTextFilter(Tokenizer tokenizer, IReadOnlyList<string> stops)
    {
        _detokenizer = new StreamingDetokenizer(tokenizer);
        _stops = stops;
    }

    /// <summary>Whether a stop sequence has been reached (later tokens are ignored).</summary>
    public bool Stopped { get; private set; }

    /// <summary>All text released so far.</summary>
    public string Text => _released.ToString();

    /// <summary>Adds a token; returns the text that can now be shown (possibly empty).</summary>
    public string Push(int token)
    {
        if (Stopped) return "";
        string piece = _detokenizer.Push(token);
        if (_stops.Count == 0) return Release(piece);
        _held.Append(piece);
        string held = _held.ToString();
        int cut = FirstStop(held);
        if (cut >= 0)
        {
            Stopped = true;
            _held.Clear();
            return Release(held[..cut]);
        }
        int keep = LongestStopPrefixSuffix(held);
        _held.Remove(0, held.Length - keep);
        return Release(held[..^keep]);
    }

    /// <summary>Releases what is held back at the end of generation (no stop sequence can complete any more).</summary>
    public string Flush()
    {
        if (Stopped) return "";
        _held.Append(_detokenizer.Flush());
        string rest = _held.ToString();
        _held.Clear();
        // An unfinished character flushed at the end could in principle complete a stop text.
        int cut = _stops.Count == 0 ? -1 : FirstStop(rest);
        if (cut >= 0) { Stopped = true; rest = rest[..cut]; }
        return Release(rest);
    }

    private string Release(string text)
    {
        _released.Append(text);
        return text;
    }

    /// <summary>Where the earliest stop sequence begins in <paramref name="text"/>, or -1.</summary>
    private int FirstStop(string text)
    {
        int first = -1;
        foreach (string stop in _stops)
        {
            int i = text.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first)) first = i;
        }
        return first;
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that begins some stop sequence.</summary>
    private int LongestStopPrefixSuffix(string text)
    {
        int best = 0;
        foreach (string stop in _stops)
            for (int n = Math.Min(stop.Length - 1, text.Length); n > best; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n))) { best = n; break; }
        return best;
    }
}
