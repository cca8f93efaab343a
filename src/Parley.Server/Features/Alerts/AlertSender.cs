using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Metrics;
using Parley.Server.Features.Webhooks;

namespace Parley.Server.Features.Alerts;

/// <summary>The answer of one attempt (also what the console's "send test alert" shows).</summary>
public sealed record AlertSendResult(bool Ok, int? Status, string? Error, int DurationMs);

/// <summary>
/// Sends notices without ever making the caller wait: <see cref="Enqueue"/> only writes to a queue bounded by
/// <see cref="AlertsOptions.QueueCapacity"/> (notices waiting or retrying; beyond it a notice is dropped, logged and
/// counted). Up to <see cref="AlertsOptions.MaxConcurrency"/> notices are in flight, so one slow or dead channel holds
/// one slot; a failed attempt is retried after the next delay of <see cref="AlertsOptions.Schedule"/> on a timer, never
/// by waiting in the loop. Outbound requests go through the SSRF guard like webhooks'.
/// </summary>
public sealed partial class AlertSender : BackgroundService
{
    private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly HttpClient _client;
    private readonly IOptions<AlertsOptions> _options;
    private readonly TimeProvider _time;
    private readonly ParleyMetrics _metrics;
    private readonly ILogger<AlertSender> _logger;
    private int _pending;

    public AlertSender(IOptions<AlertsOptions> options, TimeProvider time, ParleyMetrics metrics, ILogger<AlertSender> logger)
    {
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _client = new HttpClient(SsrfGuard.CreateHandler(options.Value.AllowPrivateTargets)) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private sealed record Item(AlertChannel Channel, AlertNotice Notice, int Attempt);

    /// <summary>Notices queued, in flight or waiting for a retry.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Queues a notice for a channel; false when the queue is full (the notice is dropped). Never waits.</summary>
    public bool Enqueue(AlertChannel channel, AlertNotice notice)
    {
        if (Interlocked.Increment(ref _pending) > _options.Value.QueueCapacity)
        {
            Interlocked.Decrement(ref _pending);
            _metrics.AlertNotified(channel.Kind, "dropped");
            LogDropped(_logger, channel.Name, channel.Id, notice.Rule);
            return false;
        }

        _queue.Writer.TryWrite(new Item(channel, notice, 1));
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not disposed: attempts still running at shutdown release their slot after this method returned.
        var slots = new SemaphoreSlim(_options.Value.MaxConcurrency);
        try
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                await slots.WaitAsync(stoppingToken);
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await AttemptAsync(item, stoppingToken);
                    }
                    finally
                    {
                        slots.Release();
                    }
                }, CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    /// <summary>One attempt, awaited (the console's test button, and each queued attempt).</summary>
    public async Task<AlertSendResult> SendOnceAsync(AlertChannel channel, AlertNotice notice, CancellationToken cancellationToken)
    {
        var o = _options.Value;
        var started = _time.GetTimestamp();
        int? status = null;
        string? error;
        try
        {
            var request = AlertFormats.Build(channel, notice, _time.GetUtcNow());
            using var message = new HttpRequestMessage(HttpMethod.Post, request.Url);
            AlertFormats.Apply(request, message);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(o.RequestTimeout);
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
            var body = await ReadLimitedAsync(response.Content, 4096, timeout.Token);
            (var ok, error) = AlertFormats.Accepted(channel.Kind, status.Value, body);
            if (ok)
            {
                return new AlertSendResult(true, status, null, Elapsed(started));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = $"Timed out after {o.RequestTimeout.TotalSeconds:0.#} s";
        }
        catch (HttpRequestException ex) when (ex.InnerException is TargetForbiddenException forbidden)
        {
            error = "target_forbidden: " + forbidden.Message;
        }
        catch (Exception ex) when (ex is HttpRequestException or TargetForbiddenException or IOException or UriFormatException)
        {
            error = ex.Message;
        }

        return new AlertSendResult(false, status, error, Elapsed(started));
    }

    private async Task AttemptAsync(Item item, CancellationToken stoppingToken)
    {
        var keep = false;
        try
        {
            var result = await SendOnceAsync(item.Channel, item.Notice, stoppingToken);
            if (result.Ok)
            {
                _metrics.AlertNotified(item.Channel.Kind, "sent");
                return;
            }

            var schedule = _options.Value.Schedule;
            if (item.Attempt > schedule.Length)
            {
                _metrics.AlertNotified(item.Channel.Kind, "failed");
                LogGaveUp(_logger, item.Channel.Name, item.Channel.Id, item.Notice.Rule, item.Attempt, result.Error);
                return;
            }

            _metrics.AlertNotified(item.Channel.Kind, "retry");
            LogRetry(_logger, item.Channel.Name, item.Channel.Id, item.Attempt, result.Error);
            keep = true;
            _ = RetryLaterAsync(item with { Attempt = item.Attempt + 1 }, schedule[item.Attempt - 1], stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogFailed(_logger, ex, item.Channel.Id);
        }
        finally
        {
            if (!keep)
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    private async Task RetryLaterAsync(Item item, TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, _time, stoppingToken);
            _queue.Writer.TryWrite(item);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    private int Elapsed(long started) => (int)_time.GetElapsedTime(started).TotalMilliseconds;

    private static async Task<string> ReadLimitedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new char[limit];
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var read = await reader.ReadBlockAsync(buffer.AsMemory(), cancellationToken);
        return new string(buffer, 0, read);
    }

    // Channel URLs carry robot tokens: logs name the channel, never its URL.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert channel {Name} ({ChannelId}): the notice queue is full; a {Rule} notice was dropped")]
    private static partial void LogDropped(ILogger logger, string name, Guid channelId, string rule);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert channel {Name} ({ChannelId}): attempt {Attempt} failed ({Error}); retrying later")]
    private static partial void LogRetry(ILogger logger, string name, Guid channelId, int attempt, string? error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert channel {Name} ({ChannelId}): gave up a {Rule} notice after {Attempts} attempts ({Error})")]
    private static partial void LogGaveUp(ILogger logger, string name, Guid channelId, string rule, int attempts, string? error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sending an alert to channel {ChannelId} failed unexpectedly")]
    private static partial void LogFailed(ILogger logger, Exception exception, Guid channelId);
}
