using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Attachments;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>
/// The authorization matrix: every REST endpoint the app maps (read from its <see cref="EndpointDataSource"/>, so a
/// new endpoint is covered the day it is added) and every public hub method (by reflection), called as an anonymous
/// client, a visitor, an agent, a supervisor and an admin, against the explicit table below. A new endpoint or hub
/// method without a row fails the test: decide who may call it and add the row.
/// Denied means 401/403 (hubs: the connection is refused, or an <c>unauthorized:</c>/<c>forbidden:</c> error);
/// allowed means anything else, and never a 5xx, and never 404 unless the row says the id may be unknown.
/// </summary>
public sealed class AuthorizationMatrixTests(AuthorizationMatrixTests.World world) : IClassFixture<AuthorizationMatrixTests.World>
{
    public enum Caller
    {
        Anonymous,
        Visitor,
        Agent,
        Supervisor,
        Admin,
    }

    /// <summary>Who may call.</summary>
    public enum Rule
    {
        /// <summary>Everyone, anonymous included.</summary>
        Anyone,

        /// <summary>A visitor token only (console users are not visitors).</summary>
        Visitor,

        /// <summary>Any signed-in console user.</summary>
        Console,
        Supervisor,
        Admin,

        /// <summary>No caller of the public port, admins included (operator surfaces: the management port or a token).</summary>
        Nobody,
    }

    /// <param name="Rule">Who may call.</param>
    /// <param name="May404">The test calls it with an id that does not exist (the caller's own sessions and tokens, an offer): 404 is then an allowed answer.</param>
    /// <param name="EndsSession">The call ends the caller's session (sign-out): made with a session of its own.</param>
    /// <param name="Body">The JSON body to send instead of <c>{}</c>.</param>
    /// <param name="PassedCode">A 401/403 problem with this code is the endpoint's own answer (wrong password), not a denial.</param>
    public sealed record Expect(Rule Rule, bool May404 = false, bool EndsSession = false, string? Body = null, string? PassedCode = null);

    private static readonly Dictionary<string, Expect> Rest = new(StringComparer.Ordinal)
    {
        // Pages, health, metrics, API description.
        ["GET /"] = new(Rule.Anyone),
        ["GET /widget/{path}"] = new(Rule.Anyone),
        ["HEAD /widget/{path}"] = new(Rule.Anyone),
        ["GET /console/{path}"] = new(Rule.Anyone),
        ["HEAD /console/{path}"] = new(Rule.Anyone),
        ["GET /chat/{siteKey}"] = new(Rule.Anyone),
        ["GET /demo"] = new(Rule.Anyone),
        ["GET /health/live"] = new(Rule.Anyone),
        ["GET /health/ready"] = new(Rule.Anyone),
        ["GET /metrics"] = new(Rule.Nobody), // only the management port or the metrics token (MetricsTests)
        ["GET /api/v1/system/load"] = new(Rule.Console),
        ["GET /openapi/{documentName}.json"] = new(Rule.Anyone),
        ["GET /scalar/{documentName}"] = new(Rule.Anyone),
        ["GET /scalar/scalar.js"] = new(Rule.Anyone),
        ["GET /scalar/scalar.aspnetcore.js"] = new(Rule.Anyone),
        ["GET /scalar/favicon.svg"] = new(Rule.Anyone),

        // Sign-in and first-run set-up.
        ["POST /api/v1/auth/login"] = new(Rule.Anyone, PassedCode: "invalid_credentials"),
        ["POST /api/v1/auth/logout"] = new(Rule.Anyone, EndsSession: true),
        ["GET /api/v1/setup/status"] = new(Rule.Anyone),
        ["POST /api/v1/setup"] = new(Rule.Anyone),

        // The signed-in user's own account.
        ["GET /api/v1/auth/me"] = new(Rule.Console),
        ["POST /api/v1/auth/password"] = new(Rule.Console, PassedCode: "invalid_credentials"), // current password checked after the role
        ["GET /api/v1/auth/sessions"] = new(Rule.Console),
        ["DELETE /api/v1/auth/sessions/{id}"] = new(Rule.Console, May404: true),
        ["POST /api/v1/auth/sessions/revoke-others"] = new(Rule.Console),
        ["GET /api/v1/auth/totp"] = new(Rule.Console),
        ["POST /api/v1/auth/totp/setup"] = new(Rule.Console),
        ["POST /api/v1/auth/totp/enable"] = new(Rule.Console),
        ["POST /api/v1/auth/totp/disable"] = new(Rule.Console),
        ["POST /api/v1/auth/totp/recovery-codes"] = new(Rule.Console), // {} before set-up: totp_not_enabled
        ["GET /api/v1/auth/tokens"] = new(Rule.Console),
        ["POST /api/v1/auth/tokens"] = new(Rule.Console),
        ["DELETE /api/v1/auth/tokens/{id}"] = new(Rule.Console, May404: true),

        // The widget: anonymous session, then the visitor token.
        ["POST /api/v1/widget/session"] = new(Rule.Anyone, Body: $"{{\"siteKey\":\"{ParleyServer.SiteKey}\"}}"),
        ["POST /api/v1/widget/profile"] = new(Rule.Visitor),
        ["POST /api/v1/widget/page"] = new(Rule.Visitor),
        ["POST /api/v1/widget/offline"] = new(Rule.Visitor),
        ["POST /api/v1/widget/conversations/{id}/transcript"] = new(Rule.Visitor, May404: true), // no SMTP here: transcript_unavailable
        ["POST /api/v1/widget/conversations/{id}/attachments"] = new(Rule.Visitor),
        ["GET /api/v1/widget/transcripts/confirm"] = new(Rule.Anyone, May404: true), // no SMTP here: transcript_unavailable
        ["POST /api/v1/widget/conversations/{id}/rating"] = new(Rule.Visitor),
        ["GET /api/v1/widget/conversations/{id}/messages"] = new(Rule.Visitor),
        ["GET /api/v1/attachments/{id}"] = new(Rule.Anyone), // the access key is the capability; console users are also sandboxed

        // Conversations (department sandbox inside: the test conversation is unrouted, so every agent sees it).
        ["GET /api/v1/conversations"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}/messages"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}/insights"] = new(Rule.Console),
        ["PUT /api/v1/conversations/{id}/intent"] = new(Rule.Console), // an agent's correction; {} is intent_example_invalid
        ["GET /api/v1/ai/takeover-alerts"] = new(Rule.Console), // within the caller's department sandbox
        ["GET /api/v1/sites/{id}/ai-settings"] = new(Rule.Supervisor),
        ["PUT /api/v1/sites/{id}/ai-settings"] = new(Rule.Admin),
        ["POST /api/v1/conversations/{id}/draft-reply"] = new(Rule.Console), // copilot; no provider here: the knowledge base or none
        ["GET /api/v1/ai/provider"] = new(Rule.Admin),
        ["PUT /api/v1/ai/provider"] = new(Rule.Admin), // {} keeps every value
        ["POST /api/v1/ai/provider/test"] = new(Rule.Admin), // {} with nothing configured: not_configured, no call
        ["POST /api/v1/conversations/{id}/messages"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/assign"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/close"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/reopen"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/attachments"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}/visitor"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}/rating"] = new(Rule.Console, May404: true), // not rated

        // Reports: any console user, sandboxed inside (an agent reports on himself, a supervisor on his departments).
        ["GET /api/v1/reports/summary"] = new(Rule.Console),
        ["GET /api/v1/reports/timeseries"] = new(Rule.Console),
        ["GET /api/v1/reports/breakdown"] = new(Rule.Console),
        ["GET /api/v1/reports/csat"] = new(Rule.Console),
        ["GET /api/v1/reports/response-times"] = new(Rule.Console),
        ["GET /api/v1/reports/export/{table}"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/whisper"] = new(Rule.Supervisor),
        ["POST /api/v1/conversations/{id}/take-over"] = new(Rule.Supervisor),
        ["GET /api/v1/routing/agents"] = new(Rule.Console),
        ["GET /api/v1/routing/queue"] = new(Rule.Console),
        ["POST /api/v1/routing/conversations/{id}/pick"] = new(Rule.Console),
        ["POST /api/v1/routing/conversations/{id}/unassign"] = new(Rule.Console), // the agent holds the test conversation; others' need a supervisor
        ["PUT /api/v1/routing/conversations/{id}"] = new(Rule.Supervisor), // moving between teams is a reassign
        ["POST /api/v1/routing/conversations/{id}/accept"] = new(Rule.Console, May404: true), // no offer
        ["POST /api/v1/routing/conversations/{id}/decline"] = new(Rule.Console, May404: true),

        // Agent console (#4): canned replies, labels, snooze, spam/block, contact profile and notes, read markers, search.
        ["GET /api/v1/canned-replies"] = new(Rule.Console),
        ["POST /api/v1/canned-replies"] = new(Rule.Console), // {} is invalid_shortcut; shared ones need a supervisor (ConsoleApiTests)
        ["POST /api/v1/canned-replies/preview"] = new(Rule.Console), // changes nothing; {} is invalid_body
        ["PUT /api/v1/canned-replies/{id}"] = new(Rule.Console, May404: true),
        ["DELETE /api/v1/canned-replies/{id}"] = new(Rule.Console, May404: true),
        ["GET /api/v1/labels"] = new(Rule.Console),
        ["POST /api/v1/labels"] = new(Rule.Console),
        ["DELETE /api/v1/labels/{id}"] = new(Rule.Supervisor, May404: true),
        ["PUT /api/v1/conversations/{id}/labels"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/snooze"] = new(Rule.Console),
        ["DELETE /api/v1/conversations/{id}/snooze"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/spam"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/read"] = new(Rule.Console),
        ["GET /api/v1/conversations/{id}/contact"] = new(Rule.Console),
        ["PATCH /api/v1/conversations/{id}/contact"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/contact/block"] = new(Rule.Console),
        ["DELETE /api/v1/conversations/{id}/contact/block"] = new(Rule.Console),
        ["POST /api/v1/conversations/{id}/contact/notes"] = new(Rule.Console),
        ["PUT /api/v1/conversations/{id}/contact/notes/{noteId}"] = new(Rule.Console, May404: true),
        ["DELETE /api/v1/conversations/{id}/contact/notes/{noteId}"] = new(Rule.Console, May404: true),
        ["GET /api/v1/search/messages"] = new(Rule.Console),
        ["GET /api/v1/console/agents"] = new(Rule.Console),

        // Sites, users, teams, audit: read by console users where the console needs it, changed by admins.
        ["GET /api/v1/sites"] = new(Rule.Console),
        ["GET /api/v1/sites/{id}"] = new(Rule.Console),
        ["POST /api/v1/sites"] = new(Rule.Admin), // {} is invalid_site_name
        ["PATCH /api/v1/sites/{id}"] = new(Rule.Admin),
        ["GET /api/v1/sites/{id}/identity-secret"] = new(Rule.Admin),
        ["POST /api/v1/sites/{id}/identity-secret/rotate"] = new(Rule.Admin),
        ["GET /api/v1/sites/{id}/widget-settings"] = new(Rule.Console),
        ["PUT /api/v1/sites/{id}/widget-settings"] = new(Rule.Admin),
        ["GET /api/v1/users"] = new(Rule.Console),
        ["POST /api/v1/users"] = new(Rule.Admin),
        ["PATCH /api/v1/users/{id}"] = new(Rule.Admin),
        ["PUT /api/v1/users/{id}/teams"] = new(Rule.Admin),
        ["POST /api/v1/users/{id}/password"] = new(Rule.Admin),
        ["GET /api/v1/users/{id}/sessions"] = new(Rule.Admin),
        ["DELETE /api/v1/users/{id}/sessions"] = new(Rule.Admin),
        ["GET /api/v1/teams"] = new(Rule.Console),
        ["GET /api/v1/teams/{id}"] = new(Rule.Console),
        ["POST /api/v1/teams"] = new(Rule.Admin),
        ["PUT /api/v1/teams/{id}"] = new(Rule.Admin),
        ["DELETE /api/v1/teams/{id}"] = new(Rule.Admin),
        ["PUT /api/v1/teams/{id}/hours"] = new(Rule.Admin),
        ["PUT /api/v1/teams/{id}/members"] = new(Rule.Admin),
        ["PUT /api/v1/teams/{id}/members/{userId}"] = new(Rule.Admin),
        ["DELETE /api/v1/teams/{id}/members/{userId}"] = new(Rule.Admin, May404: true), // the admin's PUT /users/{id}/teams {} emptied the user's teams
        ["GET /api/v1/audit"] = new(Rule.Admin),
        ["GET /api/v1/audit/export"] = new(Rule.Admin),

        // Integration (#9): contacts and context follow the department sandbox; events and webhooks are admin's.
        ["GET /api/v1/contacts"] = new(Rule.Console),
        ["GET /api/v1/contacts/{id}"] = new(Rule.Console),
        ["PATCH /api/v1/contacts/{id}"] = new(Rule.Console),
        ["GET /api/v1/contacts/{id}/events"] = new(Rule.Console),
        // Data lifecycle (#21): export and merge for supervisors, erasure and retention for admins. Erasure is called on an
        // unknown contact (it would erase the one every other row uses); merge with {} is the endpoint's own 400.
        ["GET /api/v1/contacts/{id}/export"] = new(Rule.Supervisor, May404: true),
        ["POST /api/v1/contacts/{id}/merge"] = new(Rule.Supervisor, May404: true),
        ["POST /api/v1/contacts/{id}/erase"] = new(Rule.Admin, May404: true),
        ["GET /api/v1/sites/{id}/retention"] = new(Rule.Admin),
        ["PUT /api/v1/sites/{id}/retention"] = new(Rule.Admin),
        ["GET /api/v1/conversations/{id}/context"] = new(Rule.Console),
        ["GET /api/v1/adapters"] = new(Rule.Admin), // context adapters' last success/failure (#21)
        ["POST /api/v1/events"] = new(Rule.Admin),
        ["GET /api/v1/webhooks"] = new(Rule.Admin),
        ["GET /api/v1/webhooks/event-types"] = new(Rule.Admin),
        ["POST /api/v1/webhooks"] = new(Rule.Admin),
        ["GET /api/v1/webhooks/{id}"] = new(Rule.Admin, May404: true), // no webhook exists here
        ["PATCH /api/v1/webhooks/{id}"] = new(Rule.Admin, May404: true),
        ["DELETE /api/v1/webhooks/{id}"] = new(Rule.Admin, May404: true),
        ["POST /api/v1/webhooks/{id}/rotate-secret"] = new(Rule.Admin, May404: true),
        ["GET /api/v1/webhooks/{id}/deliveries"] = new(Rule.Admin, May404: true),
        ["GET /api/v1/webhooks/{id}/deliveries/{deliveryId}"] = new(Rule.Admin, May404: true),
        ["POST /api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver"] = new(Rule.Admin, May404: true),

        // Alerts to people (#19): admins only.
        ["GET /api/v1/alerts/channels"] = new(Rule.Admin),
        ["POST /api/v1/alerts/channels"] = new(Rule.Admin), // {} is alert_channel_invalid
        ["PATCH /api/v1/alerts/channels/{id}"] = new(Rule.Admin, May404: true), // no channel exists here
        ["DELETE /api/v1/alerts/channels/{id}"] = new(Rule.Admin, May404: true),
        ["POST /api/v1/alerts/channels/{id}/test"] = new(Rule.Admin, May404: true),
        ["GET /api/v1/alerts/rules"] = new(Rule.Admin),
        ["GET /api/v1/alerts/rule-kinds"] = new(Rule.Admin),
        ["POST /api/v1/alerts/rules"] = new(Rule.Admin), // {} is alert_rule_invalid
        ["PATCH /api/v1/alerts/rules/{id}"] = new(Rule.Admin, May404: true),
        ["DELETE /api/v1/alerts/rules/{id}"] = new(Rule.Admin, May404: true),
        ["GET /api/v1/alerts/incidents"] = new(Rule.Admin),

        // Knowledge base (#16): agents read their departments' entries, supervisors change them, admins the synonyms.
        // The matrix entry belongs to the callers' team; the supervisor's delete removes it before the admin's turn.
        ["GET /api/v1/knowledge"] = new(Rule.Console),
        ["GET /api/v1/knowledge/{id}"] = new(Rule.Console, May404: true),
        ["POST /api/v1/knowledge"] = new(Rule.Supervisor), // {} is knowledge_invalid
        ["PUT /api/v1/knowledge/{id}"] = new(Rule.Supervisor, May404: true),
        ["POST /api/v1/knowledge/{id}/enable"] = new(Rule.Supervisor, May404: true),
        ["POST /api/v1/knowledge/{id}/disable"] = new(Rule.Supervisor, May404: true),
        ["DELETE /api/v1/knowledge/{id}"] = new(Rule.Supervisor, May404: true),
        ["GET /api/v1/knowledge/export/json"] = new(Rule.Supervisor),
        ["GET /api/v1/knowledge/export/csv"] = new(Rule.Supervisor),
        ["POST /api/v1/knowledge/import/json"] = new(Rule.Supervisor), // {} has no entries: knowledge_import_invalid
        ["POST /api/v1/knowledge/import/csv"] = new(Rule.Supervisor), // {} is no CSV header: knowledge_import_invalid
        ["GET /api/v1/knowledge/synonyms"] = new(Rule.Console),
        ["PUT /api/v1/knowledge/synonyms"] = new(Rule.Admin),
        ["GET /api/v1/knowledge/intent-examples"] = new(Rule.Supervisor),
        ["POST /api/v1/knowledge/intent-examples"] = new(Rule.Console), // agents' corrections; {} is intent_example_invalid
        ["DELETE /api/v1/knowledge/intent-examples/{id}"] = new(Rule.Supervisor, May404: true),
    };

    private static readonly Dictionary<string, Rule> HubMethods = new(StringComparer.Ordinal)
    {
        ["visitor.StartConversation"] = Rule.Visitor,
        ["visitor.Resume"] = Rule.Visitor,
        ["visitor.Send"] = Rule.Visitor,
        ["visitor.Typing"] = Rule.Visitor,
        ["visitor.MarkRead"] = Rule.Visitor,
        ["visitor.RequestPerson"] = Rule.Visitor, // the visitor's own conversation only (BotFirstTests)
        ["agent.SetStatus"] = Rule.Console,
        ["agent.AcceptOffer"] = Rule.Console,
        ["agent.DeclineOffer"] = Rule.Console,
        ["agent.Assign"] = Rule.Console,
        ["agent.Join"] = Rule.Console,
        ["agent.Leave"] = Rule.Console,
        ["agent.Send"] = Rule.Console,
        ["agent.Typing"] = Rule.Console,
        ["agent.MarkRead"] = Rule.Console,
        ["agent.SubscribeLive"] = Rule.Supervisor, // only his departments (LiveViewTests)
        ["agent.UnsubscribeLive"] = Rule.Console, // harmless: ends the caller's own subscription, if any
    };

    /// <summary>
    /// The API token scope each agent hub method needs, as REST would ask of the endpoint it mirrors ("area:read" or
    /// "area:write"). The upgrade is a GET, so without these a <c>read</c> token could send, write notes and assign.
    /// </summary>
    private static readonly Dictionary<string, string> HubTokenScopes = new(StringComparer.Ordinal)
    {
        ["agent.SetStatus"] = "routing:write",
        ["agent.AcceptOffer"] = "routing:write",
        ["agent.DeclineOffer"] = "routing:write",
        ["agent.Assign"] = "conversations:write",
        ["agent.Join"] = "conversations:read",
        ["agent.Leave"] = "conversations:read",
        ["agent.Send"] = "conversations:write",
        ["agent.Typing"] = "conversations:write",
        ["agent.MarkRead"] = "conversations:write",
        ["agent.SubscribeLive"] = "routing:read",
        ["agent.UnsubscribeLive"] = "routing:read",
    };

    private static readonly Caller[] Callers = Enum.GetValues<Caller>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryRestEndpoint_AnswersEachCallerAsTheTableSays()
    {
        var endpoints = world.Server.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (Method: m, Pattern: Normalize(e.RoutePattern.RawText ?? ""))))
            .Where(e => !e.Pattern.StartsWith("/hubs/", StringComparison.Ordinal) && e.Method != "OPTIONS")
            .Where(e => !IsGrpc(e.Pattern)) // gRPC (HTTP/2, token scopes): Integration/TokenAccessTests
            .Distinct()
            .ToList();
        var binary = world.Server.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.ContentTypes.Contains("application/octet-stream") == true)
            .Select(e => Normalize(e.RoutePattern.RawText ?? ""))
            .ToHashSet(StringComparer.Ordinal);
        var csv = world.Server.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.ContentTypes.Contains("text/csv") == true)
            .Select(e => Normalize(e.RoutePattern.RawText ?? ""))
            .ToHashSet(StringComparer.Ordinal);

        await world.GiveConversationToAgentAsync();
        var failures = new List<string>();
        var missing = endpoints.Select(e => $"{e.Method} {e.Pattern}").Where(key => !Rest.ContainsKey(key)).ToList();
        failures.AddRange(missing.Select(key => $"{key}: no row in AuthorizationMatrixTests.Rest; decide who may call it and add one"));
        var stale = Rest.Keys.Except(endpoints.Select(e => $"{e.Method} {e.Pattern}")).ToList();
        failures.AddRange(stale.Select(key => $"{key}: row for an endpoint the app does not map"));

        // Reads first, then writes, deletes last (longest route first): the admin's deletes must not pull the
        // resources from under the calls after them.
        var ordered = endpoints.Where(e => Rest.ContainsKey($"{e.Method} {e.Pattern}"))
            .OrderBy(e => e.Method switch { "GET" => 0, "DELETE" => 2, _ => 1 })
            .ThenByDescending(e => e.Method == "DELETE" ? e.Pattern.Length : 0)
            .ThenBy(e => e.Pattern, StringComparer.Ordinal)
            .ToList();

        foreach (var caller in Callers)
        {
            using var http = await world.ClientAsync(caller);
            foreach (var (method, pattern) in ordered)
            {
                var expect = Rest[$"{method} {pattern}"];
                HttpStatusCode status;
                string? code;
                if (expect.EndsSession)
                {
                    using var own = await world.ClientAsync(caller);
                    (status, code) = await world.CallAsync(own, method, pattern, expect.Body, binary.Contains(pattern), csv.Contains(pattern));
                }
                else
                {
                    (status, code) = await world.CallAsync(http, method, pattern, expect.Body, binary.Contains(pattern), csv.Contains(pattern));
                }

                var allowed = Allows(expect.Rule, caller);
                var denied = status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden && (expect.PassedCode is null || code != expect.PassedCode);
                var ok = allowed
                    ? !denied && (int)status < 500 && (status != HttpStatusCode.NotFound || expect.May404)
                    : denied;
                if (!ok)
                {
                    failures.Add($"{method} {pattern} as {caller}: {(int)status} {status} {code}, expected {(allowed ? "allowed" : "401/403")}");
                }
            }
        }

        Assert.True(failures.Count == 0, "Authorization matrix:\n" + string.Join('\n', failures));
        Assert.True(ordered.Count >= 60, $"only {ordered.Count} endpoints found: is the endpoint data source read correctly?");
    }

    [Fact]
    public async Task EveryHubMethod_AnswersEachCallerAsTheTableSays()
    {
        var hubs = new (string Name, Type Type, string Path)[] { ("visitor", typeof(VisitorHub), "/hubs/visitor"), ("agent", typeof(AgentHub), "/hubs/agent") };
        var failures = new List<string>();
        var found = new List<string>();
        foreach (var (name, type, path) in hubs)
        {
            var methods = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                .Where(m => !m.IsSpecialName && m.Name is not (nameof(Hub.OnConnectedAsync) or nameof(Hub.OnDisconnectedAsync)))
                .Select(m => (Method: m, Name: m.GetCustomAttribute<HubMethodNameAttribute>()?.Name ?? m.Name))
                .ToList();
            found.AddRange(methods.Select(m => $"{name}.{m.Name}"));
            foreach (var method in methods.Where(m => !HubMethods.ContainsKey($"{name}.{m.Name}")))
            {
                failures.Add($"{name}.{method.Name}: no row in AuthorizationMatrixTests.HubMethods; decide who may call it and add one");
            }

            foreach (var caller in Callers)
            {
                await using var hub = await world.HubAsync(caller, path);
                foreach (var (method, methodName) in methods.Where(m => HubMethods.ContainsKey($"{name}.{m.Name}")))
                {
                    var allowed = Allows(HubMethods[$"{name}.{methodName}"], caller);
                    string outcome;
                    if (hub is null)
                    {
                        outcome = "connection refused";
                    }
                    else
                    {
                        try
                        {
                            await hub.InvokeCoreAsync(methodName, typeof(object), world.HubArguments(method), Ct);
                            outcome = "ok";
                        }
                        catch (HubException ex)
                        {
                            outcome = ex.Message;
                        }
                    }

                    // SignalR prefixes a server-side HubException ("An unexpected error … HubException: forbidden: …").
                    var at = outcome.IndexOf("HubException: ", StringComparison.Ordinal);
                    var code = at >= 0 ? outcome[(at + "HubException: ".Length)..] : outcome;
                    var denied = outcome == "connection refused" || code.StartsWith("unauthorized:", StringComparison.Ordinal) || code.StartsWith("forbidden:", StringComparison.Ordinal);
                    if (allowed == denied)
                    {
                        failures.Add($"{name}.{methodName} as {caller}: {outcome}, expected {(allowed ? "allowed" : "denied")}");
                    }
                }
            }
        }

        failures.AddRange(HubMethods.Keys.Except(found).Select(key => $"{key}: row for a hub method that does not exist"));
        Assert.True(failures.Count == 0, "Hub authorization matrix:\n" + string.Join('\n', failures));
    }

    [Fact]
    public async Task EveryAgentHubMethod_AnswersEachApiTokenScopeAsTheTableSays()
    {
        var methods = typeof(AgentHub).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName && m.Name is not (nameof(Hub.OnConnectedAsync) or nameof(Hub.OnDisconnectedAsync)))
            .Select(m => (Method: m, Name: m.GetCustomAttribute<HubMethodNameAttribute>()?.Name ?? m.Name))
            .ToList();
        var failures = methods.Where(m => !HubTokenScopes.ContainsKey($"agent.{m.Name}"))
            .Select(m => $"agent.{m.Name}: no row in AuthorizationMatrixTests.HubTokenScopes; decide which token scope it needs and add one")
            .ToList();

        // The admin's tokens: the role allows everything, so only the scope can deny.
        string[][] tokenScopes = [["read"], ["write"], ["conversations:read"], ["routing:write"]];
        foreach (var scopes in tokenScopes)
        {
            var token = await Integration.IntegrationTestKit.CreateTokenAsync(world.Server, scopes);
            await using var hub = HubFactory.Build(world.Server.BaseAddress, "/hubs/agent", messagePack: false, o => o.AccessTokenProvider = () => Task.FromResult<string?>(token));
            await hub.StartAsync(Ct);
            foreach (var (method, methodName) in methods.Where(m => HubTokenScopes.ContainsKey($"agent.{m.Name}")))
            {
                var needed = HubTokenScopes[$"agent.{methodName}"];
                var (area, access) = (needed.Split(':')[0], needed.Split(':')[1]);
                var allowed = scopes.Any(s => s == "write" || s == $"{area}:write" || (access == "read" && (s == "read" || s == $"{area}:read")));
                string outcome;
                try
                {
                    await hub.InvokeCoreAsync(methodName, typeof(object), world.HubArguments(method), Ct);
                    outcome = "ok";
                }
                catch (HubException ex)
                {
                    outcome = ex.Message;
                }

                var denied = outcome.Contains("insufficient_scope:", StringComparison.Ordinal);
                if (allowed == denied || outcome.Contains("unauthorized:", StringComparison.Ordinal) || outcome.Contains("forbidden:", StringComparison.Ordinal))
                {
                    failures.Add($"agent.{methodName} with a [{string.Join(' ', scopes)}] token: {outcome}, expected {(allowed ? "allowed" : "insufficient_scope")}");
                }
            }
        }

        Assert.True(failures.Count == 0, "Hub token scope matrix:\n" + string.Join('\n', failures));
    }

    private static bool IsGrpc(string pattern) =>
        pattern.StartsWith("/parley.", StringComparison.Ordinal) || pattern.StartsWith("/grpc.", StringComparison.Ordinal) || pattern.Contains("{unimplemented", StringComparison.Ordinal);

    private static bool Allows(Rule rule, Caller caller) => rule switch
    {
        Rule.Anyone => true,
        Rule.Visitor => caller == Caller.Visitor,
        Rule.Console => caller is Caller.Agent or Caller.Supervisor or Caller.Admin,
        Rule.Supervisor => caller is Caller.Supervisor or Caller.Admin,
        Rule.Admin => caller == Caller.Admin,
        Rule.Nobody => false,
        _ => false,
    };

    /// <summary><c>/api/v1/teams/{id:guid}/</c> → <c>/api/v1/teams/{id}</c>.</summary>
    private static string Normalize(string raw)
    {
        var pattern = Regex.Replace(raw, @"\{\*{0,2}(\w+)[^}]*\}", "{$1}");
        pattern = "/" + pattern.Trim('/');
        return pattern;
    }

    /// <summary>One server (SQLite) with one of each kind of caller and the resources the calls name.</summary>
    public sealed class World : IAsyncLifetime
    {
        private TestStorage _storage = null!;
        private string _visitorToken = "";
        private string _attachmentKey = "";
        private readonly Dictionary<string, string> _ids = [];
        private Guid _hubConversation;

        public ParleyServer Server { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            _storage = await TestStorage.CreateAsync(Store.Sqlite);
            Server = await ParleyServer.StartAsync(_storage);
            var team = await Server.CreateTeamAsync("Matrix");
            _ids["agent"] = (await Server.CreateUserAsync("agent@test.local", "agent", team)).Id.ToString();
            await Server.CreateUserAsync("supervisor@test.local", "supervisor", team);
            var target = await Server.CreateUserAsync("target@test.local", "agent", team);

            await using var visitor = await VisitorClient.ConnectAsync(Server);
            _visitorToken = visitor.Token;
            var conversation = await visitor.StartConversationAsync();
            await visitor.SendAsync(conversation.Id, "hello");
            using var visitorHttp = WidgetTestKit.VisitorHttp(Server, visitor.Token);
            (await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, "a.png")).EnsureSuccessStatusCode();
            var attachment = JsonSerializer.Deserialize<AttachmentInfo>((await Server.MessagesAsync(conversation.Id))[^1].Body, JsonSerializerOptions.Web)!;
            _attachmentKey = attachment.Url.Split("?k=")[1];

            var (admin, _) = await AgentClient.SignInAsync(Server);
            using (admin)
            {
                _ids["site"] = (await WidgetTestKit.SiteIdAsync(admin)).ToString();
                var entry = await admin.PostAsJsonAsync("/api/v1/knowledge", new { question = "Matrix?", answer = "Matrix.", teamId = team });
                entry.EnsureSuccessStatusCode();
                _ids["knowledge"] = (await entry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            }

            _ids["conversation"] = conversation.Id.ToString();
            _ids["contact"] = visitor.Session.ContactId.ToString();
            _ids["user"] = target.Id.ToString();
            _ids["team"] = team.ToString();
            _ids["attachment"] = attachment.Id.ToString();

            // The hub matrix works on a conversation of its own (the REST matrix closes and reassigns the first).
            _hubConversation = (await visitor.StartConversationAsync()).Id;
        }

        /// <summary>The agent holds the REST matrix's conversation, whatever routing did meanwhile: claims and unassigns are theirs to make.</summary>
        public async Task GiveConversationToAgentAsync()
        {
            using var admin = await ClientAsync(Caller.Admin);
            (await admin.PostAsJsonAsync($"/api/v1/conversations/{_ids["conversation"]}/assign", new { userId = _ids["agent"] }, Ct)).EnsureSuccessStatusCode();
        }

        public async Task<HttpClient> ClientAsync(Caller caller)
        {
            HttpClient http;
            switch (caller)
            {
                case Caller.Agent or Caller.Supervisor or Caller.Admin:
                    http = (await AgentClient.SignInAsync(Server, Email(caller), caller == Caller.Admin ? ParleyServer.AdminPassword : SecurityFixtures.Password)).Http;
                    break;
                case Caller.Visitor:
                    http = WidgetTestKit.VisitorHttp(Server, _visitorToken);
                    http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
                    break;
                default:
                    http = Server.CreateHttpClient();
                    http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
                    break;
            }

            return http;
        }

        /// <param name="csv">The endpoint takes only text/csv: sent a header row and no entries.</param>
        public async Task<(HttpStatusCode Status, string? Code)> CallAsync(HttpClient http, string method, string pattern, string? body, bool binary, bool csv = false)
        {
            var path = Regex.Replace(pattern, @"\{(\w+)\}", m => Fill(pattern, m.Groups[1].Value));
            if (pattern == "/api/v1/attachments/{id}")
            {
                path += "?k=" + _attachmentKey;
            }

            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (binary)
            {
                request.Content = new ByteArrayContent(WidgetTestKit.Png);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                request.RequestUri = new Uri($"{path}?name=a.png&clientId={Guid.NewGuid()}", UriKind.Relative);
            }
            else if (csv)
            {
                request.Content = new StringContent(body ?? "question,answer\n", Encoding.UTF8, "text/csv");
            }
            else if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = new StringContent(body ?? "{}", Encoding.UTF8, "application/json");
            }

            using var response = await http.SendAsync(request, Ct);
            string? code = null;
            if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
                code = problem.TryGetProperty("code", out var c) ? c.GetString() : null;
            }

            return (response.StatusCode, code);
        }

        /// <summary>A connected hub for the caller, or null when the hub refuses the connection.</summary>
        public async Task<HubConnection?> HubAsync(Caller caller, string path)
        {
            CookieContainer? cookies = null;
            if (caller is Caller.Agent or Caller.Supervisor or Caller.Admin)
            {
                var (signedIn, container) = await AgentClient.SignInAsync(Server, Email(caller), caller == Caller.Admin ? ParleyServer.AdminPassword : SecurityFixtures.Password);
                signedIn.Dispose();
                cookies = container;
            }

            var hub = HubFactory.Build(Server.BaseAddress, path, messagePack: false, o =>
            {
                if (caller == Caller.Visitor)
                {
                    o.AccessTokenProvider = () => Task.FromResult<string?>(_visitorToken);
                }
                else if (cookies is not null)
                {
                    o.Cookies = cookies;
                }
            });
            try
            {
                await hub.StartAsync(Ct);
                return hub;
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Net.WebSockets.WebSocketException or InvalidOperationException or AggregateException)
            {
                await hub.DisposeAsync();
                return null;
            }
        }

        /// <summary>Arguments for a hub method (the caller's, not those the server injects): the hub conversation where one is named, plausible values elsewhere.</summary>
        public object?[] HubArguments(MethodInfo method) =>
            [.. method.GetParameters().Where(p => !p.IsDefined(typeof(Microsoft.AspNetCore.Mvc.FromServicesAttribute))).Select(p => Argument(p.ParameterType, p.Name ?? ""))];

        private object? Argument(Type type, string name)
        {
            if (type == typeof(string))
            {
                return name switch
                {
                    "conversationId" => _hubConversation.ToString(),
                    "status" => "online",
                    _ => null,
                };
            }

            var value = Activator.CreateInstance(type)!;
            foreach (var property in type.GetProperties().Where(p => p.CanWrite))
            {
                object? set = property.Name switch
                {
                    "ConversationId" => _hubConversation.ToString(),
                    "ClientId" => Guid.NewGuid().ToString(),
                    "Body" => "matrix",
                    "Typing" => true,
                    "Seq" => 1L,
                    _ => null,
                };
                if (set is not null && property.PropertyType.IsInstanceOfType(set))
                {
                    property.SetValue(value, set);
                }
            }

            return value;
        }

        private static string Email(Caller caller) => caller switch
        {
            Caller.Admin => ParleyServer.AdminEmail,
            Caller.Supervisor => "supervisor@test.local",
            _ => "agent@test.local",
        };

        private string Fill(string pattern, string parameter)
        {
            var resource = parameter switch
            {
                "siteKey" => null,
                "path" => null,
                "documentName" => null,
                "table" => null,
                "userId" => "user",
                "deliveryId" => "delivery",
                "noteId" => "own",
                _ when pattern.StartsWith("/api/v1/canned-replies/", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/labels/", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/users/", StringComparison.Ordinal) => "user",
                _ when pattern.StartsWith("/api/v1/teams/", StringComparison.Ordinal) => "team",
                _ when pattern.StartsWith("/api/v1/sites/", StringComparison.Ordinal) => "site",
                _ when pattern.StartsWith("/api/v1/attachments/", StringComparison.Ordinal) => "attachment",
                _ when pattern.EndsWith("/erase", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/contacts/", StringComparison.Ordinal) => "contact",
                _ when pattern.StartsWith("/api/v1/webhooks/", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/alerts/", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/knowledge/intent-examples/", StringComparison.Ordinal) => "own",
                _ when pattern.StartsWith("/api/v1/knowledge/", StringComparison.Ordinal) => "knowledge",
                _ when pattern.Contains("/conversations/", StringComparison.Ordinal) => "conversation",
                _ when pattern.StartsWith("/api/v1/auth/", StringComparison.Ordinal) => "own",
                _ => throw new InvalidOperationException($"{pattern}: the matrix does not know what {{{parameter}}} names; teach World.Fill"),
            };
            return parameter switch
            {
                "siteKey" => ParleyServer.SiteKey,
                "path" => "x",
                "documentName" => "v1",
                "table" => "summary",
                "deliveryId" => "1",
                _ => resource == "own" ? Guid.NewGuid().ToString() : _ids[resource!],
            };
        }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await _storage.DisposeAsync();
        }
    }
}
