using System.Collections.Concurrent;
using Parley.Data;
using Parley.Server.ScaleOut;

namespace Parley.Server.Features.Ai;

/// <summary>
/// Every site's <see cref="AiSiteSettings"/>, read from the store once and kept until they change: the visitor reader
/// consults them for every visitor message, and a query per message was most of what reading visitors cost on the chat
/// path. A change on this node (<see cref="Changed"/>) drops the entry here and, through the cluster bus, on every other
/// node; when this node's bus link comes back after an outage (changes may have been missed) every entry is dropped.
/// </summary>
public sealed class AiSiteSettingsCache(IClusterBus bus) : IHostedService
{
    private const string Topic = "ai-site-settings";

    private readonly ConcurrentDictionary<Guid, AiSiteSettings> _sites = new();
    private long _version;

    /// <summary>The site's settings, from memory when this node has read them since their last change.</summary>
    public async ValueTask<AiSiteSettings> GetAsync(ParleyDbContext db, Guid siteId, CancellationToken cancellationToken)
    {
        if (_sites.TryGetValue(siteId, out var cached))
        {
            return cached;
        }

        var version = Interlocked.Read(ref _version);
        var settings = await AiSiteSettings.LoadAsync(db, siteId, cancellationToken);

        // A change that landed while we read may not be in what we read: keep it only when nothing changed meanwhile.
        if (Interlocked.Read(ref _version) == version)
        {
            _sites[siteId] = settings;
        }

        return settings;
    }

    /// <summary>The site's settings; a database scope is opened only when they are not in memory.</summary>
    public async ValueTask<AiSiteSettings> GetAsync(IServiceScopeFactory scopes, Guid siteId, CancellationToken cancellationToken)
    {
        if (_sites.TryGetValue(siteId, out var cached))
        {
            return cached;
        }

        await using var scope = scopes.CreateAsyncScope();
        return await GetAsync(scope.ServiceProvider.GetRequiredService<ParleyDbContext>(), siteId, cancellationToken);
    }

    /// <summary>Call after the site's settings were committed: every node reads them again.</summary>
    public void Changed(Guid siteId)
    {
        Forget(siteId);
        bus.Publish(Topic, siteId);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<Guid>(Topic, Forget);
        bus.Restored += _ =>
        {
            Interlocked.Increment(ref _version);
            _sites.Clear();
        };
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Forget(Guid siteId)
    {
        Interlocked.Increment(ref _version);
        _sites.TryRemove(siteId, out _);
    }
}
