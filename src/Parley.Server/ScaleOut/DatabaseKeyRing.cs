using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.ScaleOut;

public static class DatabaseKeyRing
{
    /// <summary>
    /// Keeps the Data Protection key ring in the Parley database, so every node (and every restart) reads cookies
    /// and visitor tokens the others wrote, with or without Redis. Keys an older single-node install kept in
    /// <paramref name="legacyDirectory"/> are imported once, so existing sessions and visitor tokens stay valid.
    /// </summary>
    public static IDataProtectionBuilder PersistKeysToParleyDatabase(this IDataProtectionBuilder builder, string legacyDirectory)
    {
        builder.Services.AddOptions<KeyManagementOptions>().Configure<IServiceScopeFactory, ILoggerFactory>((o, scopes, logs) =>
            o.XmlRepository = new DatabaseXmlRepository(scopes, legacyDirectory, logs.CreateLogger<DatabaseXmlRepository>()));
        return builder;
    }
}

/// <summary>An <see cref="IXmlRepository"/> over the DataProtectionKeys table (the interface is synchronous).</summary>
internal sealed partial class DatabaseXmlRepository(IServiceScopeFactory scopes, string legacyDirectory, ILogger<DatabaseXmlRepository> logger) : IXmlRepository
{
    private int _imported;

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var scope = scopes.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        if (Interlocked.Exchange(ref _imported, 1) == 0)
        {
            ImportLegacyKeys(db);
        }

        return db.DataProtectionKeys.AsNoTracking().OrderBy(k => k.Id).Select(k => k.Xml).ToList().ConvertAll(XElement.Parse);
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var scope = scopes.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        db.DataProtectionKeys.Add(new DataProtectionKey { FriendlyName = friendlyName, Xml = element.ToString(SaveOptions.DisableFormatting) });
        db.SaveChanges();
    }

    private void ImportLegacyKeys(ParleyDbContext db)
    {
        if (!Directory.Exists(legacyDirectory) || db.DataProtectionKeys.Any())
        {
            return;
        }

        var files = Directory.GetFiles(legacyDirectory, "*.xml");
        foreach (var file in files)
        {
            db.DataProtectionKeys.Add(new DataProtectionKey { FriendlyName = Path.GetFileNameWithoutExtension(file), Xml = File.ReadAllText(file) });
        }

        try
        {
            db.SaveChanges();
            LogImported(logger, files.Length, legacyDirectory);
        }
        catch (DbUpdateException)
        {
            // Another node imported the same files at the same moment (unique friendly name).
            db.ChangeTracker.Clear();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Imported {Count} Data Protection key(s) from {Directory} into the database")]
    private static partial void LogImported(ILogger logger, int count, string directory);
}
