using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Routing;

namespace Parley.Server.Features.Ai;

/// <summary>
/// Routes by what the visitor wrote first (docs/routing.md): the site's intent → team mapping picks the team unless
/// an earlier rule chose one (the visitor's department choice), and complaints or strongly negative visitors get
/// the site's priority boost. Does nothing when routing runs before any message.
/// </summary>
internal sealed class IntentRoutingRule(ParleyDbContext db, AiSiteSettingsCache siteSettings) : IRoutingRule
{
    public async ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken)
    {
        if (context.FirstMessage is not { } first)
        {
            return;
        }

        var settings = await siteSettings.GetAsync(db, context.SiteId, cancellationToken);
        var (team, boost) = settings.Route(first.Intent, first.SentimentLabel);
        if (context.TeamId is null && team is { } t && await db.Teams.AnyAsync(x => x.Id == t, cancellationToken))
        {
            context.TeamId = t;
        }

        context.Priority = Math.Clamp(context.Priority + boost, -100, 100);
    }
}
