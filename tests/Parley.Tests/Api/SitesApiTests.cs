using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Access;
using Parley.Server.Features.Sites;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;
using Parley.Tests.Widget;

namespace Parley.Tests.Api;

/// <summary>Sites over REST (#9): several sites per installation, and the identity secret a site's back end signs with.</summary>
public sealed class SitesApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Admin_CreatesASite_WhoseWidgetWorks_WithUniqueValidKeys_AndRenamesIt(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var created = await admin.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("EU shop", "shop-eu"), Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var site = (await created.Content.ReadFromJsonAsync<SiteDto>(Ct))!;
        Assert.Equal(("shop-eu", "EU shop"), (site.Key, site.Name));
        Assert.Equal($"/api/v1/sites/{site.Id}", created.Headers.Location?.OriginalString);

        // The new key opens a widget session bound to the new site.
        using var anon = server.CreateHttpClient();
        var session = await anon.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = "shop-eu" }, Ct);
        session.EnsureSuccessStatusCode();

        var taken = await admin.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("Copy", "shop-eu"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        Assert.Equal("site_key_taken", await WidgetTestKit.ProblemCodeAsync(taken));
        foreach (var bad in new[] { "ab", "Shop EU", "shop/eu", "<script>", new string('a', 65) })
        {
            var refused = await admin.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("Bad", bad), Ct);
            Assert.Equal("invalid_site_key", await WidgetTestKit.ProblemCodeAsync(refused));
        }

        var unnamed = await admin.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("  ", null), Ct);
        Assert.Equal("invalid_site_name", await WidgetTestKit.ProblemCodeAsync(unnamed));
        var random = await (await admin.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("Random key", null), Ct)).Content.ReadFromJsonAsync<SiteDto>(Ct);
        Assert.Matches("^[0-9a-f]{24}$", random!.Key);

        var renamed = await admin.PatchAsJsonAsync($"/api/v1/sites/{site.Id}", new UpdateSiteRequest("Europe shop"), Ct);
        renamed.EnsureSuccessStatusCode();
        var one = await admin.GetFromJsonAsync<SiteDto>($"/api/v1/sites/{site.Id}", Ct);
        Assert.Equal(("Europe shop", "shop-eu"), (one!.Name, one.Key));
        var all = await admin.GetFromJsonAsync<List<SiteDto>>("/api/v1/sites", Ct);
        Assert.Equal([ParleyServer.SiteKey, "shop-eu", random.Key], all!.Select(s => s.Key));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/sites/{Guid.NewGuid()}", Ct)).StatusCode);

        // Agents read sites (the install panel) but do not create or rename them.
        await server.CreateUserAsync("sam@test.local", "Sam");
        using var agent = await server.SignInAsync("sam@test.local", UserSeeding.Password);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/api/v1/sites/{site.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsJsonAsync("/api/v1/sites", new CreateSiteRequest("Mine", "agent-site"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PatchAsJsonAsync($"/api/v1/sites/{site.Id}", new UpdateSiteRequest("Hijacked"), Ct)).StatusCode);
    }

    [Fact]
    public async Task IdentitySecret_IsForAdminsOnly_Audited_AndRotationRefusesHashesOfTheOldSecret()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var siteId = await WidgetTestKit.SiteIdAsync(admin);

        await server.CreateUserAsync("sam@test.local", "Sam");
        await server.CreateUserAsync("lead@test.local", "Lead", Parley.Data.UserRole.Supervisor);
        foreach (var email in new[] { "sam@test.local", "lead@test.local" })
        {
            using var http = await server.SignInAsync(email, UserSeeding.Password);
            Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/api/v1/sites/{siteId}/identity-secret", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync($"/api/v1/sites/{siteId}/identity-secret/rotate", null, Ct)).StatusCode);
        }

        var old = (await admin.GetFromJsonAsync<SiteSecretDto>($"/api/v1/sites/{siteId}/identity-secret", Ct))!.Secret;
        var user = new WidgetUser("cust-7", "Grace", null, null, null, VisitorProfiles.Sign(old, "cust-7"));
        using var anon = server.CreateHttpClient();
        (await anon.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user), Ct)).EnsureSuccessStatusCode();

        var rotated = await admin.PostAsync($"/api/v1/sites/{siteId}/identity-secret/rotate", null, Ct);
        rotated.EnsureSuccessStatusCode();
        var fresh = (await rotated.Content.ReadFromJsonAsync<SiteSecretDto>(Ct))!.Secret;
        Assert.NotEqual(old, fresh);
        Assert.Matches("^[0-9a-f]{64}$", fresh);

        var stale = await anon.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, stale.StatusCode);
        Assert.Equal("identity_invalid", await WidgetTestKit.ProblemCodeAsync(stale));
        var resigned = await anon.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user with { Hash = VisitorProfiles.Sign(fresh, "cust-7") }), Ct);
        resigned.EnsureSuccessStatusCode();

        var audit = await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct);
        var actions = audit!.Items.Where(e => e.TargetId == siteId.ToString()).Select(e => e.Action).ToList();
        Assert.Contains("site.secret_viewed", actions);
        Assert.Contains("site.secret_rotated", actions);
        Assert.DoesNotContain(audit.Items, e => e.DetailsJson?.Contains(fresh, StringComparison.Ordinal) == true || e.DetailsJson?.Contains(old, StringComparison.Ordinal) == true);
    }

    [Theory]
    [BothStores]
    public async Task Api_SendsAsABot_TheVisitorSeesTheBotsName_AndABotNoteIsRefused(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var clientId = Guid.NewGuid();
        var sent = await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId, body = "Your order 42 ships today.", asBot = true, botName = "Order bot" }, Ct);
        sent.EnsureSuccessStatusCode();
        var received = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.ClientId == clientId));
        var message = received.Single(x => x.ClientId == clientId);
        Assert.Equal(("bot", "Order bot", "text"), (message.SenderKind, message.SenderName, message.Kind));

        var unnamed = Guid.NewGuid();
        (await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = unnamed, body = "Anything else?", asBot = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal("Bot", (await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.ClientId == unnamed))).Single(x => x.ClientId == unnamed).SenderName);

        var both = await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = Guid.NewGuid(), body = "x", asBot = true, note = true }, Ct);
        Assert.Equal("invalid_request", await WidgetTestKit.ProblemCodeAsync(both));
        var longName = await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = Guid.NewGuid(), body = "x", asBot = true, botName = new string('b', 101) }, Ct);
        Assert.Equal("invalid_request", await WidgetTestKit.ProblemCodeAsync(longName));

        // A visitor cannot pass itself off as a bot: the flag is ignored on the visitor's side.
        var own = await visitor.Hub.InvokeAsync<SendAck>("Send", new SendRequest { ConversationId = conversation.Id.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "I am the bot", AsBot = true, BotName = "Support" }, Ct);
        var page = await admin.GetFromJsonAsync<Parley.Server.Features.Conversations.MessagePage>($"/api/v1/conversations/{conversation.Id}/messages", Ct);
        var stored = page!.Items.Single(m => m.ClientId == own.ClientId);
        Assert.Equal("visitor", stored.SenderKind);
        Assert.NotEqual("Support", stored.SenderName);
    }
}
