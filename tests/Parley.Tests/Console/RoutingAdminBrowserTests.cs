using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Parley.Server.Features.Users;
using Parley.Server.Routing;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>The routing side of the console in real Chromium: the teams and agents admin pages, and offers in the workspace.</summary>
public sealed class RoutingAdminBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_CreatesATeamWithHoursAndAMember_AndSetsAnAgentsCapacity_ThroughThePages()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var ann = await server.CreateUserAsync("ann@test.local", "Ann Agent");
        await server.CreateUserAsync("ben@test.local", "Ben Agent");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-teams");
        await page.GetByTestId("team-new").ClickAsync();
        await page.GetByTestId("team-name").FillAsync("Support");
        await page.GetByTestId("team-description").FillAsync("Orders and refunds");
        await page.GetByTestId("team-strategy").SelectOptionAsync("roundRobin");
        await page.GetByTestId("team-offer-timeout").FillAsync("45");
        await page.GetByTestId("team-overflow").CheckAsync();
        await page.GetByTestId("team-overflow-minutes").FillAsync("15");
        await page.Locator("[data-testid=team-member][data-email='ann@test.local']").CheckAsync();
        await page.GetByTestId("team-timezone").SelectOptionAsync("Asia/Shanghai");
        var monday = page.Locator("[data-testid=hours-day][data-day=monday]");
        await monday.GetByTestId("span-add").ClickAsync(); // 09:00–17:00 by default
        var friday = page.Locator("[data-testid=hours-day][data-day=friday]");
        await friday.GetByTestId("span-add").ClickAsync();
        await friday.GetByTestId("span-open").FillAsync("22:00");
        await friday.GetByTestId("span-close").FillAsync("06:00");
        await Assertions.Expect(friday.GetByText("overnight")).ToBeVisibleAsync();
        await page.GetByTestId("holiday-add").ClickAsync();
        await page.GetByTestId("holiday").FillAsync("2026-12-25");
        await page.GetByTestId("team-save").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=team-form] [data-testid=team-status]")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("team-item")).ToHaveCountAsync(1);
        await page.ScreenshotAsync(new() { Path = Screenshot("console-teams.png"), FullPage = true });

        // A second team with the same name: the server's problem code is shown next to the form.
        await page.GetByTestId("team-new").ClickAsync();
        await page.GetByTestId("team-name").FillAsync("Support");
        await page.GetByTestId("team-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("team-error")).ToHaveAttributeAsync("data-code", "team_conflict", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("team-item")).ToHaveCountAsync(1);

        // Agents page: a capacity out of range is refused with its code, then a valid one is stored.
        await ConsolePage.NavigateAsync(page, "nav-users");
        var annRow = page.Locator("[data-testid=user-row][data-email='ann@test.local']");
        await Assertions.Expect(annRow).ToContainTextAsync("Support", new() { Timeout = Timeout });
        await annRow.GetByTestId("user-edit").ClickAsync();
        var editor = page.Locator("[data-testid=user-row-edit][data-email='ann@test.local']");
        await editor.GetByTestId("user-capacity-input").FillAsync("5000");
        await editor.GetByTestId("user-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("user-error")).ToHaveAttributeAsync("data-code", "invalid_capacity", new() { Timeout = Timeout });
        await editor.GetByTestId("user-capacity-input").FillAsync("5");
        await editor.GetByTestId("user-all-departments").CheckAsync();
        await editor.GetByTestId("user-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("user-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        await Assertions.Expect(annRow.GetByTestId("user-capacity")).ToHaveTextAsync("5");

        // What the pages did is what the REST API stores.
        var (http, _) = await AgentClient.SignInAsync(server);
        using (http)
        {
            var team = Assert.Single((await http.GetFromJsonAsync<List<TeamDto>>("/api/v1/teams", Ct))!);
            Assert.Equal("Support", team.Name);
            Assert.Equal("Orders and refunds", team.Description);
            Assert.Equal("roundRobin", team.Strategy);
            Assert.True(team.Sticky);
            Assert.Equal(45, team.OfferTimeoutSeconds);
            Assert.Equal(15, team.OverflowAfterMinutes);
            Assert.Null(team.OverflowTeamId); // overflow offers the offline form
            Assert.Equal("Asia/Shanghai", team.TimeZone);
            Assert.Equal<OpeningSpan>([new OpeningSpan("monday", "09:00", "17:00"), new OpeningSpan("friday", "22:00", "06:00")], team.Hours.Weekly);
            Assert.Equal<string>(["2026-12-25"], team.Hours.Holidays);
            Assert.Equal(ann.Id, Assert.Single(team.Members).UserId);

            var stored = (await http.GetFromJsonAsync<List<UserAdminDto>>("/api/v1/users", Ct))!.Single(u => u.Id == ann.Id);
            Assert.Equal(5, stored.Capacity);
            Assert.True(stored.AllDepartments);
            Assert.Equal<Guid>([team.Id], stored.TeamIds);
            Assert.Equal(20, (await http.GetFromJsonAsync<List<UserAdminDto>>("/api/v1/users", Ct))!.Single(u => u.Email == "ben@test.local").Capacity);
        }
    }

    [Fact]
    public async Task Agent_InATeamWithOfferTimeout_AcceptsAnOfferedChat_AndADeclinedOfferDisappears()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var ann = await server.CreateUserAsync("ann@test.local", "Ann Agent");
        using var admin = (await AgentClient.SignInAsync(server)).Http;
        var created = await admin.PostAsJsonAsync("/api/v1/teams", new { name = "Support", offerTimeoutSeconds = 120 }, Ct);
        created.EnsureSuccessStatusCode();
        var team = (await created.Content.ReadFromJsonAsync<TeamDto>(Ct))!;
        (await admin.PutAsJsonAsync($"/api/v1/teams/{team.Id}/members", new { userIds = new[] { ann.Id } }, Ct)).EnsureSuccessStatusCode();
        await AddTeamPreChatFieldAsync(admin);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var page = await ConsolePage.SignInAsync(context, server, "ann@test.local", UserSeeding.Password);
        await page.GetByTestId("inbox-view-mine").ClickAsync();
        await Assertions.Expect(page.GetByTestId("inbox-item")).ToHaveCountAsync(0, new() { Timeout = Timeout });

        // A visitor who chose the Support department: Ann, its only member, is asked first.
        await using var dora = await VisitorInTeamAsync(server, "Dora Chen", "Where is my parcel?");
        var offer = page.Locator($"[data-testid=offer][data-conversation-id='{dora.ConversationId}']");
        await Assertions.Expect(offer.GetByTestId("offer-name")).ToHaveTextAsync("Dora Chen", new() { Timeout = Timeout });
        await Assertions.Expect(offer.GetByTestId("offer-countdown")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+s left$"));
        var before = await offer.GetByTestId("offer-countdown").TextContentAsync();
        await Assertions.Expect(offer.GetByTestId("offer-countdown")).Not.ToHaveTextAsync(before!, new() { Timeout = Timeout }); // it counts down
        await page.ScreenshotAsync(new() { Path = Screenshot("console-offer.png") });
        await offer.GetByTestId("offer-accept").ClickAsync();
        await Assertions.Expect(offer).ToHaveCountAsync(0, new() { Timeout = Timeout });
        var mine = page.GetByTestId("inbox-item");
        await Assertions.Expect(mine).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(mine).ToContainTextAsync("Dora Chen");
        await Assertions.Expect(page.GetByTestId("conversation-assignee")).ToContainTextAsync("Ann Agent", new() { Timeout = Timeout });

        // A second visitor: Ann declines; the banner goes and the chat waits unoffered in the queue.
        await using var evan = await VisitorInTeamAsync(server, "Evan Wu", "Hello?");
        var second = page.Locator($"[data-testid=offer][data-conversation-id='{evan.ConversationId}']");
        await Assertions.Expect(second.GetByTestId("offer-name")).ToHaveTextAsync("Evan Wu", new() { Timeout = Timeout });
        await second.GetByTestId("offer-decline").ClickAsync();
        await Assertions.Expect(second).ToHaveCountAsync(0, new() { Timeout = Timeout });
        var queue = (await admin.GetFromJsonAsync<List<QueueEntryDto>>("/api/v1/routing/queue", Ct))!;
        var waiting = Assert.Single(queue);
        Assert.Equal(evan.ConversationId, waiting.ConversationId);
        Assert.Null(waiting.OfferedToId);
        await Assertions.Expect(mine).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByTestId("offer")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Visitor_ChoosesADepartmentInTheWidget_AndTheChatWaitsInThatTeamsQueue()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var admin = (await AgentClient.SignInAsync(server)).Http;
        var teams = new Dictionary<string, TeamDto>();
        foreach (var name in new[] { "Sales", "Billing", "Internal" })
        {
            var response = await admin.PostAsJsonAsync("/api/v1/teams", new { name }, Ct);
            response.EnsureSuccessStatusCode();
            teams[name] = (await response.Content.ReadFromJsonAsync<TeamDto>(Ct))!;
        }

        // The admin offers two of the three teams as departments on the widget settings page.
        await using var adminContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var console = await ConsolePage.SignInAsync(adminContext, server);
        await ConsolePage.NavigateAsync(console, "nav-widget-settings");
        await console.Locator("[data-testid=ws-department][data-name=Sales]").CheckAsync(new() { Timeout = Timeout });
        await console.Locator("[data-testid=ws-department][data-name=Billing]").CheckAsync();
        await console.GetByTestId("ws-save").ClickAsync();
        await Assertions.Expect(console.GetByTestId("ws-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });

        // A department that is not a team is refused.
        var site = (await admin.GetFromJsonAsync<JsonArray>("/api/v1/sites", Ct))![0]!["id"]!.GetValue<string>();
        var stored = (await admin.GetFromJsonAsync<JsonObject>($"/api/v1/sites/{site}/widget-settings", Ct))!;
        var offered = stored["settings"]!["departments"]!.AsArray().Select(x => Guid.Parse(x!.GetValue<string>())).ToList();
        Assert.Equal<Guid>([teams["Sales"].Id, teams["Billing"].Id], offered);
        var bad = stored["settings"]!.DeepClone().AsObject();
        bad["departments"] = new JsonArray(Guid.NewGuid().ToString());
        var refused = await admin.PutAsJsonAsync($"/api/v1/sites/{site}/widget-settings", new JsonObject { ["settings"] = bad, ["allowedOrigins"] = new JsonArray() }, Ct);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("invalid_settings", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // The visitor picks Billing in the widget's pre-chat form, then writes.
        await using var visitorContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await visitorContext.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, $"/demo?site={ParleyServer.SiteKey}").ToString());
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        var choice = widget.GetByTestId("field-team");
        await Assertions.Expect(choice).ToBeVisibleAsync(new() { Timeout = Timeout });
        Assert.Equal(["—", "Sales", "Billing"], await choice.Locator("option").AllTextContentsAsync());
        await widget.GetByTestId("prechat-form-submit").ClickAsync(); // required
        await Assertions.Expect(widget.GetByTestId("prechat-form-error")).ToBeVisibleAsync();
        await choice.SelectOptionAsync(new SelectOptionValue { Label = "Billing" });
        await widget.GetByTestId("prechat-form-submit").ClickAsync();
        await widget.GetByTestId("composer-input").FillAsync("My invoice is wrong");
        await widget.GetByTestId("composer-send").ClickAsync();
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=visitor][data-state=sent]")).ToHaveCountAsync(1, new() { Timeout = Timeout });

        // Nobody is in Billing: the chat waits in Billing's queue (the online admin is not a member).
        var entry = Assert.Single((await admin.GetFromJsonAsync<List<QueueEntryDto>>("/api/v1/routing/queue", Ct))!);
        Assert.Equal(teams["Billing"].Id, entry.TeamId);

        // A visitor cannot route themselves to a team the site does not offer.
        await using var other = await VisitorClient.ConnectAsync(server);
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", other.Token);
        var sneaky = await http.PostAsJsonAsync("/api/v1/widget/profile", new { fields = new Dictionary<string, string> { ["team"] = teams["Internal"].Id.ToString() } }, Ct);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, sneaky.StatusCode);
        Assert.Contains("invalid_department", await sneaky.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>The site's pre-chat form gets a "team" field: its answer routes the conversation (ContactAttributesRule).</summary>
    private static async Task AddTeamPreChatFieldAsync(HttpClient admin)
    {
        var site = (await admin.GetFromJsonAsync<JsonArray>("/api/v1/sites", Ct))![0]!["id"]!.GetValue<string>();
        var current = (await admin.GetFromJsonAsync<JsonObject>($"/api/v1/sites/{site}/widget-settings", Ct))!;
        var settings = current["settings"]!.AsObject();
        settings["preChatFields"] = new JsonArray(new JsonObject { ["key"] = "team", ["label"] = "Department", ["required"] = false });
        (await admin.PutAsJsonAsync($"/api/v1/sites/{site}/widget-settings", new JsonObject { ["settings"] = settings.DeepClone(), ["allowedOrigins"] = new JsonArray() }, Ct)).EnsureSuccessStatusCode();
    }

    private static async Task<TeamVisitor> VisitorInTeamAsync(ParleyServer server, string name, string text)
    {
        var visitor = await VisitorClient.ConnectAsync(server);
        using (var http = server.CreateHttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", visitor.Token);
            (await http.PostAsJsonAsync("/api/v1/widget/profile", new { name, fields = new Dictionary<string, string> { ["team"] = "Support" } }, Ct)).EnsureSuccessStatusCode();
        }

        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, text);
        return new TeamVisitor(visitor, conversation.Id);
    }

    private sealed record TeamVisitor(VisitorClient Client, Guid ConversationId) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Client.DisposeAsync();
    }

    [Fact]
    public async Task Admin_AddsASite_AndRevealsItsIdentitySecret_WhichAgentsNeverSee()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("ann@test.local", "Ann Agent");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-install");
        await page.GetByTestId("install-site-name").FillAsync("Shop <b>EU</b>");
        await page.GetByTestId("install-site-key").FillAsync("shop-eu");
        await page.Locator("[data-testid=install-add-site] button[type=submit]").ClickAsync();
        var added = page.Locator("[data-testid=install-site][data-site-key=shop-eu]");
        await Assertions.Expect(added.Locator("h3")).ToContainTextAsync("Shop <b>EU</b>", new() { Timeout = Timeout }); // the name is text, not markup
        await Assertions.Expect(added.GetByTestId("install-snippet")).ToContainTextAsync("data-site=\"shop-eu\"");

        // The same key again: the server's answer is shown, nothing is added.
        await page.GetByTestId("install-site-name").FillAsync("Copy");
        await page.GetByTestId("install-site-key").FillAsync("shop-eu");
        await page.Locator("[data-testid=install-add-site] button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=install-add-site] [role=alert]")).ToHaveTextAsync("Another site already has this key.", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("install-site")).ToHaveCountAsync(2);

        await added.GetByTestId("install-reveal").ClickAsync();
        var shown = await added.GetByTestId("install-secret").TextContentAsync(new() { Timeout = Timeout });
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var sites = await admin.GetFromJsonAsync<List<Parley.Server.Features.Sites.SiteDto>>("/api/v1/sites", Ct);
            var id = sites!.Single(s => s.Key == "shop-eu").Id;
            var secret = await admin.GetFromJsonAsync<Parley.Server.Features.Sites.SiteSecretDto>($"/api/v1/sites/{id}/identity-secret", Ct);
            Assert.Equal(secret!.Secret, shown);
        }

        await using var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var agentPage = await ConsolePage.SignInAsync(agentContext, server, "ann@test.local", UserSeeding.Password);
        await ConsolePage.NavigateAsync(agentPage, "nav-install");
        await Assertions.Expect(agentPage.GetByTestId("install-site")).ToHaveCountAsync(2, new() { Timeout = Timeout });
        await Assertions.Expect(agentPage.GetByTestId("install-identity")).ToHaveCountAsync(0);
        await Assertions.Expect(agentPage.GetByTestId("install-add-site")).ToHaveCountAsync(0);
    }

    private static string Screenshot(string name) => Screenshots.PathOf(name);
}
