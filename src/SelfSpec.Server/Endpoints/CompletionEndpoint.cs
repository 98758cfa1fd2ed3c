using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SelfSpec.Decoding;
using SelfSpec.Server.Generation;
using SelfSpec.Server.Hosting;
using SelfSpec.Server.Protocol;

namespace SelfSpec.Server.Endpoints;

/// <summary>
/// POST /v1/chat/completions and /v1/completions: parse and check the request, turn it into a <see cref="GenerationJob"/>,
/// hand it to the generation service, and answer whole or as a stream.
/// </summary>
internal sealed partial class CompletionEndpoint(ModelHost host, ServerMetrics metrics, ILogger<CompletionEndpoint> log)
{
    public async Task HandleAsync(HttpContext context, bool chat)
    {
        var cancellation = context.RequestAborted;
        if (!host.IsReady) throw new ApiException(503, "the model is still loading; retry shortly", type: "server_error", code: "model_loading") { RetryAfterSeconds = 1 };
        var body = await RequestBody.ReadAsync(context.Request, host.Options.MaxBodyBytes, cancellation).ConfigureAwait(false);
        var request = RequestParser.Parse(body, chat);
        if (request.Model != null && !host.Names(request.Model))
            throw new ApiException(404, $"the model '{request.Model}' does not exist; this server serves '{host.ModelId}'" +
                (host.Options.Alias != null ? $" (alias '{host.Options.Alias}')" : ""), param: "model", code: "model_not_found");
        var job = Job(request);
        var json = new CompletionJson(chat, CompletionJson.NewId(chat), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), request.Model ?? host.ModelId,
            new LogprobsJson(host.Model.Tokenizer, chat));
        var service = (IGenerationService)context.RequestServices.GetService(typeof(IGenerationService))!;
        await using var updates = service.GenerateAsync(job, cancellation).GetAsyncEnumerator(cancellation);
        // The first update comes after the queue and the prefill: errors up to then still get a plain error response.
        if (!await First(updates).ConfigureAwait(false)) throw ErrorResponse.Internal();
        if (request.Stream) await StreamAsync(context, request, json, updates).ConfigureAwait(false);
        else await WholeAsync(context, json, updates).ConfigureAwait(false);
    }

    /// <summary>
    /// The request as a job: its options from the request's fields, then the library's <see cref="GenerationRequest"/>
    /// (the path <c>LanguageModelChatClient</c> takes too) tokenizes, limits and checks it against the model.
    /// </summary>
    private GenerationJob Job(CompletionRequest request)
    {
        var model = host.Model;
        var options = new GenerationOptions
        {
            MaxTokens = int.MaxValue, // without max_tokens: the rest of the context
            Sampling = request.Sampling,
            Method = request.Method ?? host.Options.DefaultMethod,
            Speculation = request.Speculation.Apply(model.SpeculationDefaults),
            StopSequences = request.Stop,
            TopLogprobs = request.TopLogprobs,
        };
        GenerationRequest prepared;
        try
        {
            int context = host.ContextLength;
            prepared = request.IsChat ? GenerationRequest.ForChat(model, request.Messages, options, request.MaxTokens, context, request.TemplateOptions)
                : request.PromptTokens != null ? GenerationRequest.ForTokens(model, request.PromptTokens, options, request.MaxTokens, context)
                : GenerationRequest.ForText(model, request.Prompt!, options, request.MaxTokens, context);
        }
        catch (InvalidRequestException e)
        {
            string? param = e.Param switch
            {
                "max_tokens" => request.MaxTokensField,
                "options" => "selfspec",
                _ => e.Param,
            };
            string message = e.Param == "max_tokens" ? e.Message.Replace("max tokens", request.MaxTokensField, StringComparison.Ordinal) : e.Message;
            throw ApiException.BadRequest(message, param, e.Code);
        }
        return new GenerationJob(prepared.Prompt, prepared.Options);
    }

    private static async Task<bool> First(IAsyncEnumerator<GenerationUpdate> updates)
    {
        try
        {
            return await updates.MoveNextAsync().ConfigureAwait(false);
        }
        catch (QueueFullException e)
        {
            throw new ApiException(429, e.Message, type: "rate_limit_error", code: "queue_full") { RetryAfterSeconds = 1 };
        }
        catch (InvalidRequestException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
    }

    private async Task WholeAsync(HttpContext context, CompletionJson json, IAsyncEnumerator<GenerationUpdate> updates)
    {
        var result = updates.Current.Result;
        while (result == null && await updates.MoveNextAsync().ConfigureAwait(false)) result = updates.Current.Result;
        if (result == null) throw ErrorResponse.Internal();
        metrics.CountGeneration(result.Stats);
        context.RequestAborted.ThrowIfCancellationRequested();
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(json.Response(result), context.RequestAborted).ConfigureAwait(false);
    }

    private async Task StreamAsync(HttpContext context, CompletionRequest request, CompletionJson json, IAsyncEnumerator<GenerationUpdate> updates)
    {
        var cancellation = context.RequestAborted;
        var sse = new SseWriter(context.Response, cancellation);
        await sse.StartAsync().ConfigureAwait(false);
        try
        {
            if (request.IsChat) await sse.WriteAsync(json.Chunk("", first: true)).ConfigureAwait(false);
            // Tokens whose text is still held back (part of a character, or perhaps a stop sequence) send their
            // log-probabilities with the chunk that shows their text.
            List<TokenLogprobs>? pending = request.TopLogprobs != null ? [] : null;
            GenerationResult? result;
            do
            {
                var u = updates.Current;
                result = u.Result;
                if (result != null) break;
                if (u.Logprobs != null) pending?.Add(u.Logprobs);
                if (u.Text.Length > 0)
                {
                    await sse.WriteAsync(json.Chunk(u.Text, tokens: pending)).ConfigureAwait(false);
                    pending?.Clear();
                }
            }
            while (await updates.MoveNextAsync().ConfigureAwait(false));
            if (result == null) throw ErrorResponse.Internal();
            metrics.CountGeneration(result.Stats);
            if (cancellation.IsCancellationRequested) return;
            var tail = updates.Current.Text;
            if (tail.Length > 0 || pending is { Count: > 0 }) await sse.WriteAsync(json.Chunk(tail, tokens: pending)).ConfigureAwait(false);
            await sse.WriteAsync(json.Chunk(null, last: result)).ConfigureAwait(false);
            if (request.IncludeUsage) await sse.WriteAsync(json.UsageChunk(result.Stats)).ConfigureAwait(false);
            await sse.DoneAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested && e is not OperationCanceledException)
        {
            // The status line has gone: the error becomes the stream's last event.
            var error = e as ApiException ?? (e is InvalidRequestException ? ApiException.BadRequest(e.Message) : ErrorResponse.Internal());
            if (error.Status >= 500) StreamFailed(log, e);
            await sse.WriteAsync(ErrorResponse.ToBytes(error)).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "a streamed generation failed")]
    private static partial void StreamFailed(ILogger log, Exception e);
}
