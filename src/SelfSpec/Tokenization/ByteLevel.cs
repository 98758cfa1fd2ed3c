using System.Text;

namespace SelfSpec.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character map: every byte becomes one printable BMP character, so byte-level BPE
/// vocabularies can be stored as text. Printable Latin-1 bytes map to themselves, the rest to U+0100 onward.
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[ByteToChar[b]] = (byte)b;
        return d;
    }

    /// <summary>Byte-level text of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int n = Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = n <= 512 ? stackalloc byte[n] : new byte[n];
        Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(n, bytes.ToArray(), static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) dst[i] = ByteToChar[src[i]];
        });
    }

    /// <summary>The bytes a byte-level token text stands for. Characters outside the map (never in a well-formed
    /// vocabulary) contribute their own UTF-8 bytes rather than failing.</summary>
    public static void Decode(string tokenText, List<byte> output)
    {
        foreach (char c in tokenText)
        {
            if (CharToByte.TryGetValue(c, out byte b)) output.Add(b);
            else output.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
    }

    public static string ByteToString(byte b) => ByteToChar[b].ToString();
}
