using System.Text;

namespace SelfSpec.Tokenization;

/// <summary>
/// Turns tokens into text as they are generated. A token may end inside a multi-byte UTF-8 character; its bytes are
/// held back until the character completes, so every returned string is whole characters. The concatenation of all
/// <see cref="Push"/> results and <see cref="Flush"/> equals <see cref="Tokenizer.Decode"/> of the same ids.
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly List<byte> _pending = new(8);
    private bool _first = true;

    /// <param name="tokenizer">The tokenizer whose tokens are pushed.</param>
    /// <param name="renderSpecial">Whether control tokens' text (<c>&lt;|im_end|&gt;</c>) is output.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, bool renderSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds one token; returns the text that is now complete (possibly empty).</summary>
    public string Push(int id)
    {
        ReadOnlySpan<byte> piece = _tokenizer.PieceSpan(id, _renderSpecial);
        if (_first && _tokenizer.AddSpacePrefix && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        _first = false;
        foreach (byte b in piece) _pending.Add(b);

        int complete = CompleteLength(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        if (complete == 0) return "";
        string s = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return s;
    }

    /// <summary>Returns whatever is held back (an unfinished character becomes U+FFFD) and starts over.</summary>
    public string Flush()
    {
        string s = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        _first = true;
        return s;
    }

    /// <summary>Length of the prefix that does not end in an unfinished multi-byte sequence.</summary>
    internal static int CompleteLength(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        // Look back at most 3 bytes for the lead byte of the last sequence.
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte b = bytes[n - back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte
            int need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
