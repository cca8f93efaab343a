using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>
/// #15 weak default: the Data Protection key ring sat unencrypted in the database, so a dump decrypted TOTP secrets and
/// could mint cookies and visitor tokens. It is now encrypted with a key kept outside the database.
/// </summary>
public sealed class KeyRingEncryptionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task KeyRing_IsEncryptedAtRest_AndTheDatabaseAloneCannotReadIt(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        System.Net.CookieContainer cookies;
        await using (var first = await ParleyServer.StartAsync(storage))
        {
            var (http, jar) = await AgentClient.SignInAsync(first);
            http.Dispose();
            cookies = jar;
            await using var scope = first.Services.CreateAsyncScope();
            var rows = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().DataProtectionKeys.AsNoTracking().Select(k => k.Xml).ToListAsync(Ct);
            Assert.NotEmpty(rows);
            Assert.All(rows, xml =>
            {
                Assert.Contains("parleyEncrypted", xml, StringComparison.Ordinal);
                Assert.DoesNotContain("<value>", xml, StringComparison.Ordinal); // the plaintext master key element
            });
        }

        Assert.True(File.Exists(Path.Combine(storage.DataDirectory, "keyring.key")));

        // The same database and key: the session survives a restart.
        await using (var again = await ParleyServer.StartAsync(storage))
        {
            using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = again.BaseAddress };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
        }

        // The same database with another key (a dump elsewhere): the cookie cannot be read.
        await using var stranger = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:DataProtection:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        using var strangerHttp = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = stranger.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await strangerHttp.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
    }
}
