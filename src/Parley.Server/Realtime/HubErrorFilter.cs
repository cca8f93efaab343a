using Microsoft.AspNetCore.SignalR;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>Turns expected failures into <c>HubException("code: text")</c> so callers get a stable error code.</summary>
internal sealed class HubErrorFilter : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (ParleyException ex)
        {
            throw new HubException($"{ex.Code}: {ex.Message}");
        }
        catch (StoreUnavailableException ex)
        {
            throw new HubException($"unavailable: {ex.Message} Retry with the same client id.");
        }
    }
}
