using Parley.Server.Realtime;

namespace Parley.Server.Features.Widget;

/// <summary>
/// Whether live chat is staffed right now for a site, which decides between the chat and the offline form.
/// This implementation counts connected agent consoles on this node; routing replaces it with agent presence
/// and business hours.
/// </summary>
public interface IAgentAvailability
{
    ValueTask<bool> IsAvailableAsync(Guid siteId, CancellationToken cancellationToken);
}

internal sealed class ConnectedAgentsAvailability(ConnectionRegistry registry) : IAgentAvailability
{
    public ValueTask<bool> IsAvailableAsync(Guid siteId, CancellationToken cancellationToken) => ValueTask.FromResult(registry.Agents.Count > 0);
}
