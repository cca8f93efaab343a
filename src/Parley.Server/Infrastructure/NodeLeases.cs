using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Infrastructure;

/// <summary>One node at a time: a named <see cref="NodeLease"/> row taken or renewed with a conditional UPDATE.</summary>
public static class NodeLeases
{
    /// <summary>Takes or renews the lease: only when it is free, expired, or already <paramref name="holder"/>'s.</summary>
    public static async Task<bool> TryHoldAsync(ParleyDbContext db, string name, string holder, DateTime now, TimeSpan duration, CancellationToken cancellationToken)
    {
        var until = now + duration;
        if (await db.NodeLeases.Where(l => l.Name == name && (l.Holder == holder || l.ExpiresAt < now))
                .ExecuteUpdateAsync(s => s.SetProperty(l => l.Holder, holder).SetProperty(l => l.ExpiresAt, until), cancellationToken) == 1)
        {
            return true;
        }

        if (await db.NodeLeases.AnyAsync(l => l.Name == name, cancellationToken))
        {
            return false;
        }

        db.NodeLeases.Add(new NodeLease { Name = name, Holder = holder, ExpiresAt = until });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateException)
        {
            // Another node created it first.
            db.ChangeTracker.Clear();
            return false;
        }
    }
}
