namespace SelfSpec.Tests.Api;

/// <summary>
/// Runs bodies at the same moment, each on a thread of its own. Task.Run is not enough for tests that need requests
/// to overlap: the thread pool starts with one thread a core (two here) and a blocked Generate holds its thread, so
/// queued bodies may run one after another and never share a pass.
/// </summary>
internal static class Concurrently
{
    public static Task<T[]> Run<T>(int count, Func<int, T> body) => RunAsync(count, i => Task.FromResult(body(i)));

    public static Task<T[]> RunAsync<T>(int count, Func<int, Task<T>> body)
    {
        var start = new Barrier(count);
        var tasks = new Task<T>[count];
        for (int i = 0; i < count; i++)
        {
            int index = i;
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    start.SignalAndWait();
                    done.SetResult(body(index).GetAwaiter().GetResult());
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            }) { IsBackground = true, Name = $"test-request-{index}" };
            thread.Start();
            tasks[i] = done.Task;
        }
        return Task.WhenAll(tasks);
    }
}
