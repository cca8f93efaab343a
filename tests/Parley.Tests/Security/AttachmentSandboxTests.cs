using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Auth;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>An agent downloading another department's attachment (FreeScout CVE-2026-41192/40570) is refused like an unknown file.</summary>
public sealed class AttachmentSandboxTests
{
    private static readonly string[] ReadScope = ["read"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task AnotherDepartmentsAttachment_Is404_ForItsAgents_EvenWithTheLink(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        await server.CreateUserAsync("bea@test.local", "agent", billing);
        var (visitor, chat) = await server.VisitorInTeamAsync(billing, "here is my invoice");
        await using var _ = visitor;

        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var upload = await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{chat}/attachments", WidgetTestKit.Png, "invoice.png");
        upload.EnsureSuccessStatusCode();
        var url = JsonSerializer.Deserialize<AttachmentInfo>((await server.MessagesAsync(chat))[^1].Body, JsonSerializerOptions.Web)!.Url;

        // Billing's agent, the visitor's browser (the key is the capability) and an admin get the file.
        using var bea = await server.SignInAsync("bea@test.local");
        Assert.Equal(HttpStatusCode.OK, (await bea.GetAsync(url, Ct)).StatusCode);
        using var anonymous = server.CreateHttpClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(url, Ct)).StatusCode);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var __ = admin;
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(url, Ct)).StatusCode);

        // Sales' agent holding the very same link is answered as if the file did not exist: by session and by API token.
        using var sam = await server.SignInAsync("sam@test.local");
        var refused = await sam.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal("attachment_not_found", await WidgetTestKit.ProblemCodeAsync(refused));

        var created = await sam.PostAsJsonAsync("/api/v1/auth/tokens", new { name = "script", scopes = ReadScope, expiresInDays = 1 }, Ct);
        var token = (await created.Content.ReadFromJsonAsync<CreatedToken>(Ct))!.Token;
        using var samToken = server.CreateHttpClient();
        samToken.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.NotFound, (await samToken.GetAsync(url, Ct)).StatusCode);

        // Without the key nobody gets it, whatever their department.
        var id = url.Split('/')[^1].Split('?')[0];
        Assert.Equal(HttpStatusCode.NotFound, (await bea.GetAsync($"/api/v1/attachments/{id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/api/v1/attachments/{id}?k=AAAA", Ct)).StatusCode);
    }
}
