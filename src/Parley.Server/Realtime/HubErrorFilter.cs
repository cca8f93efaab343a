using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>Turns expected failures into <c>HubException("code: text")</c> so callers get a stable error code.</summary>
internal sealed partial class HubErrorFilter(ILogger<HubErrorFilter> logger) : IHubFilter
{
    // Every hub invocation passes here and awaits the method (a send awaits its commit): the pooling builder reuses the
    // state machine instead of allocating one per invocation. SignalR awaits the returned ValueTask once.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (ParleyException ex)
        {
            throw new HubException(ex.Error.HubText(ex.Message));
        }
        catch (StoreUnavailableException ex)
        {
            throw new HubException(ErrorCatalogue.Unavailable.HubText($"{ex.Message} Retry with the same client id."));
        }
        catch (Exception ex) when (ex is not HubException and not OperationCanceledException)
        {
            // SignalR's own dispatcher log is turned down (it reports every expected HubException as an error).
            LogUnexpected(logger, ex, invocationContext.HubMethodName);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Hub method {Method} failed")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method);
}
