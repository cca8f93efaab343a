using System.Reflection;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Features.Auth;
using Parley.Server.Infrastructure;

namespace Parley.Server.Realtime;

/// <summary>
/// API token scopes on hub methods, as <see cref="ApiTokenScopeCheck"/> applies them to REST: the WebSocket upgrade is a
/// GET, so the connection itself only proves the token; each invocation must be covered by the token's scopes. Every
/// public method of a hub that console users reach declares its scope with <see cref="ApiTokenScopeAttribute"/>; a
/// method without one is refused to tokens (fail closed: a new method must decide).
/// </summary>
internal sealed class HubTokenScopeFilter : IHubFilter
{
    private static readonly object NotAToken = new();

    // Not async: the checks run before the call, so no state machine is allocated for every invocation (it was,
    // measured on the chat path), and a refusal still reaches the error filter, which calls this inside its try.
    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        // Whether the connection is a token's, and the token's scopes, are fixed for its life: read from the claims on
        // its first invocation and kept with the connection (a claim lookup enumerates the principal and allocates).
        var connection = ClientConnection.Of(invocationContext.Context);
        var cached = connection.TokenScopes;
        if (cached is null)
        {
            var user = invocationContext.Context.User;
            cached = user?.FindFirst(ApiTokens.TokenClaim) is null ? NotAToken : user.FindAll(ApiTokens.ScopeClaim).Select(c => c.Value).ToArray();
            connection.TokenScopes = cached;
        }

        if (cached is string[] scopes)
        {
            var declared = invocationContext.HubMethod.GetCustomAttribute<ApiTokenScopeAttribute>();
            if (declared is null)
            {
                throw new ParleyException(ErrorCatalogue.InsufficientScope, $"API tokens may not call {invocationContext.HubMethodName}.");
            }

            if (!ApiTokens.Allows(scopes, declared.Area, declared.Write))
            {
                throw new ParleyException(ErrorCatalogue.InsufficientScope, $"The API token lacks the scope {declared.Area}:{(declared.Write ? "write" : "read")}.");
            }
        }

        return next(invocationContext);
    }
}
