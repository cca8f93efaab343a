using System.Globalization;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Ai;
using StackExchange.Redis;

namespace Parley.Server.ScaleOut;

/// <summary>
/// The LLM token budget counted in Redis, so a site's daily budget holds across the cluster rather than per node:
/// one counter per site and UTC day (INCRBY), expiring at the end of that day. When Redis is unreachable or slow the
/// node counts on its own (<see cref="LocalTokenBudget"/>, which always keeps this node's share) and nothing waits
/// on Redis for longer than <see cref="RedisBudget"/>.
/// </summary>
internal sealed partial class RedisTokenBudget(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> options,
    TimeProvider time,
    ILogger<RedisTokenBudget> logger) : ILlmTokenBudget
{
    private const string Script = """
        local n = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('PEXPIREAT', KEYS[1], ARGV[2])
        return n
        """;

    private static readonly TimeSpan RedisBudget = TimeSpan.FromMilliseconds(500);

    private readonly LocalTokenBudget _local = new();
    private int _failing;

    public async ValueTask<long> SpentAsync(Guid siteId, DateOnly day, CancellationToken cancellationToken)
    {
        if (redis.IsConnected)
        {
            try
            {
                var value = await redis.GetDatabase().StringGetAsync(Key(siteId, day)).WaitAsync(RedisBudget, time, cancellationToken);
                Recovered();
                return value.TryParse(out long n) ? n : 0;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                NoteFailure(ex);
            }
        }
        else
        {
            NoteFailure(null);
        }

        return await _local.SpentAsync(siteId, day, cancellationToken);
    }

    public async ValueTask AddAsync(Guid siteId, DateOnly day, long tokens, CancellationToken cancellationToken)
    {
        await _local.AddAsync(siteId, day, tokens, cancellationToken);
        if (!redis.IsConnected)
        {
            NoteFailure(null);
            return;
        }

        var dayEnd = new DateTimeOffset(day.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeMilliseconds();
        try
        {
            await redis.GetDatabase().ScriptEvaluateAsync(Script, [Key(siteId, day)], [tokens, dayEnd]).WaitAsync(RedisBudget, time, cancellationToken);
            Recovered();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            NoteFailure(ex);
        }
    }

    internal RedisKey Key(Guid siteId, DateOnly day) =>
        $"{options.Value.Prefix}:llm-tokens:{siteId:N}:{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _failing, 0) == 1)
        {
            LogShared(logger);
        }
    }

    private void NoteFailure(Exception? ex)
    {
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            LogFallback(logger, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unreachable for the LLM token budget: this node counts its own tokens until it is back")]
    private static partial void LogFallback(ILogger logger, Exception? exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "The LLM token budget is counted in Redis again")]
    private static partial void LogShared(ILogger logger);
}
