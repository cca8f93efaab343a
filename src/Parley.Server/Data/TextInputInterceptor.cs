using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Parley.Server.Infrastructure;

namespace Parley.Server.Data;

/// <summary>
/// The store-side half of <see cref="TextInput"/>: every string property of an added or modified entity is checked
/// before EF Core writes it, so a field an endpoint forgot to check is refused with a 400 naming it instead of
/// failing on PostgreSQL (U+0000) with a 500, or being stored invisibly on SQLite. Endpoints still check their own
/// fields first, with stricter single-line rules where they apply.
/// </summary>
internal sealed class TextInputInterceptor : SaveChangesInterceptor
{
    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        Check(eventData.Context);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Check(eventData.Context);
        return ValueTask.FromResult(result);
    }

    private static void Check(DbContext? context)
    {
        if (context is null)
        {
            return;
        }

        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified))
            {
                continue;
            }

            foreach (var property in entry.Properties)
            {
                if (property.CurrentValue is string text && (entry.State == EntityState.Added || property.IsModified) && !TextInput.IsAllowed(text))
                {
                    TextInput.Require(text, JsonName(property.Metadata.Name), multiline: true);
                }
            }
        }
    }

    private static string JsonName(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];
}
