using System.Text;
using LLama;
using LLama.Common;
using SelfSpec.Gguf;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Tokenization;

/// <summary>One model file opened both ways: our tokenizer and llama.cpp (through LLamaSharp) as the oracle.</summary>
public abstract class LlamaCppTokenizerFixture : IDisposable
{
    private readonly GgufFile _file;

    protected LlamaCppTokenizerFixture(string path)
    {
        // llama.cpp logs every tensor it loads; keep test output readable.
        LLama.Native.NativeLogConfig.llama_log_set((level, message) => { });
        _file = GgufFile.Open(path);
        Tokenizer = Tokenizer.FromGguf(_file);
        var p = new ModelParams(path) { ContextSize = 512, GpuLayerCount = 0 };
        Weights = LLamaWeights.LoadFromFile(p);
    }

    public Tokenizer Tokenizer { get; }
    public LLamaWeights Weights { get; }

    public int[] OracleEncode(string text, bool addSpecial, bool parseSpecial) =>
        Weights.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>Bytes of one token as llama.cpp renders it (special = true).</summary>
    public byte[] OraclePiece(int id)
    {
        var buf = new byte[256];
        int n = (int)Weights.NativeHandle.TokenToSpan((LLama.Native.LLamaToken)id, buf, 0, true);
        return buf.AsSpan(0, n).ToArray();
    }

    public void Dispose()
    {
        Weights.Dispose();
        _file.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class BundledTokenizerFixture() : LlamaCppTokenizerFixture(TestModels.Bundled);

public sealed class Q4_0TokenizerFixture() : LlamaCppTokenizerFixture(TestModels.Q4_0);
