using SelfSpec.Tokenization;

namespace SelfSpec.Bench;

/// <summary>One benchmark prompt: where it came from, its Spec-Bench task, and its token ids.</summary>
internal sealed record BenchPrompt(int Index, string Id, string Category, string Task, string Text, bool Chat)
{
    public int[] Tokens { get; set; } = [];
}

/// <summary>
/// Reads the prompt file: each JSONL line is either a JSON string (a raw prompt) or a Spec-Bench object
/// (<c>question_id</c>, <c>category</c>, <c>turns</c>; the first turn is used, with the chat template).
/// </summary>
internal static class PromptSet
{
    /// <summary>Spec-Bench categories to the report's tasks. MT-Bench's eight categories form "multi-turn conversation".</summary>
    public static string TaskOf(string category) => category switch
    {
        "writing" or "roleplay" or "reasoning" or "math" or "coding" or "extraction" or "stem" or "humanities" => "multi-turn conversation",
        "translation" => "translation",
        "summarization" => "summarization",
        "qa" => "question answering",
        "math_reasoning" => "math reasoning",
        "rag" => "RAG",
        "" => "raw",
        _ => category,
    };

    /// <summary>Order of tasks in tables and charts (tasks not listed follow in order of appearance).</summary>
    public static readonly string[] TaskOrder =
        ["multi-turn conversation", "translation", "summarization", "question answering", "math reasoning", "RAG", "raw"];

    public static List<BenchPrompt> Load(string path)
    {
        var prompts = new List<BenchPrompt>();
        foreach (var e in SelfSpec.Calibration.PromptFile.Read(path))
        {
            string category = e.Category ?? "";
            prompts.Add(new BenchPrompt(prompts.Count, e.Id ?? $"line{e.LineNumber}", category, TaskOf(category), e.Text, Chat: e.IsChat));
        }
        if (prompts.Count == 0) throw new InvalidRequestException($"prompt file {path} holds no prompts");
        return prompts;
    }

    /// <summary>
    /// A stratified subset of <paramref name="limit"/> prompts: the count is shared out over the tasks as
    /// evenly as it goes (so every task appears once limit reaches the number of tasks), and within a task
    /// the picks are spread evenly over its prompts. The result keeps file order.
    /// </summary>
    public static List<BenchPrompt> Stratified(List<BenchPrompt> all, int limit)
    {
        if (limit <= 0 || limit >= all.Count) return all;
        var groups = all.GroupBy(p => p.Task).Select(g => g.ToList()).ToList();
        var quota = new int[groups.Count];
        for (int taken = 0, g = 0; taken < limit; g = (g + 1) % groups.Count)
        {
            if (quota[g] < groups[g].Count) { quota[g]++; taken++; }
        }
        var picked = new List<BenchPrompt>();
        for (int g = 0; g < groups.Count; g++)
        {
            int n = groups[g].Count;
            for (int i = 0; i < quota[g]; i++)
                picked.Add(groups[g][(int)((i + 0.5) * n / quota[g])]);
        }
        return [.. picked.OrderBy(p => p.Index)];
    }

    public static void Tokenize(LanguageModel lm, IEnumerable<BenchPrompt> prompts)
    {
        foreach (var p in prompts)
            p.Tokens = p.Chat ? lm.TokenizeChat([new ChatMessage("user", p.Text)]) : lm.Tokenize(p.Text);
    }
}
