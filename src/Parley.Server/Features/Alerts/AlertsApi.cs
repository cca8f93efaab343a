using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Alerts;

/// <summary>Admins' alert settings: channels (with a test button), rules, and the recent episodes.</summary>
public static class AlertsApi
{
    public static IEndpointRouteBuilder MapAlertsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/alerts")
            .WithTags("Alerts")
            .RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithParleyErrors();

        api.MapGet("/channels", ListChannelsAsync).WithName("ListAlertChannels").WithSummary("Alert channels")
            .WithDescription("URLs of Slack, WeCom and DingTalk channels carry the robot's token and come back masked; secrets are write-only (hasSecret).");
        api.MapPost("/channels", CreateChannelAsync).WithName("CreateAlertChannel").WithSummary("Add an alert channel")
            .WithDescription("kind is webhook (signed like Parley's webhooks; a whsec_ secret is generated and returned once unless given), slack (incoming webhook), wecom (group robot, markdown) or dingtalk (robot, markdown; secret = the robot's optional signing secret). language: en or zh-CN. Loopback and private targets are refused unless the server allows them (Parley:Alerts:AllowPrivateTargets).");
        api.MapPatch("/channels/{id:guid}", UpdateChannelAsync).WithName("UpdateAlertChannel").WithSummary("Change an alert channel (omitted fields stay)");
        api.MapDelete("/channels/{id:guid}", DeleteChannelAsync).WithName("DeleteAlertChannel").WithSummary("Delete an alert channel");
        api.MapPost("/channels/{id:guid}/test", TestChannelAsync).WithName("TestAlertChannel").WithSummary("Send a test alert now")
            .WithDescription("One attempt, no retry; answers whether the receiver accepted it (WeCom and DingTalk: errcode 0) with its HTTP status or the error.");
        api.MapGet("/rules", ListRulesAsync).WithName("ListAlertRules").WithSummary("Alert rules");
        api.MapGet("/rule-kinds", () => TypedResults.Ok(AlertService.Kinds)).WithName("ListAlertRuleKinds")
            .WithSummary("Rule kinds with their threshold's default and bounds")
            .WithDescription("Thresholds: queue_wait and commit_latency in seconds, error_rate a fraction (0.05 = 5 %), disk_space in megabytes; no_agent_online and webhook_disabled take none.");
        api.MapPost("/rules", CreateRuleAsync).WithName("CreateAlertRule").WithSummary("Add an alert rule")
            .WithDescription("teamId narrows queue_wait and no_agent_online to one department. renotifyMinutes: remind while it lasts (0: once per episode).");
        api.MapPatch("/rules/{id:guid}", UpdateRuleAsync).WithName("UpdateAlertRule").WithSummary("Change an alert rule's threshold, reminder interval or state");
        api.MapDelete("/rules/{id:guid}", DeleteRuleAsync).WithName("DeleteAlertRule").WithSummary("Delete an alert rule and its episodes");
        api.MapGet("/incidents", ListIncidentsAsync).WithName("ListAlertIncidents").WithSummary("Recent firing episodes, newest first")
            .WithDescription("resolvedAt is null while it fires; notices counts the firing notices and reminders sent. limit is at most 200.");
        return app;
    }

    internal static async Task<Ok<List<AlertChannelDto>>> ListChannelsAsync(AlertService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ChannelsAsync(cancellationToken));

    internal static async Task<Created<AlertChannelDto>> CreateChannelAsync(CreateAlertChannelRequest request, AlertService service, CancellationToken cancellationToken)
    {
        var created = await service.CreateChannelAsync(request, cancellationToken);
        return TypedResults.Created($"/api/v1/alerts/channels/{created.Id}", created);
    }

    internal static async Task<Ok<AlertChannelDto>> UpdateChannelAsync(Guid id, UpdateAlertChannelRequest request, AlertService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateChannelAsync(id, request, cancellationToken));

    internal static async Task<NoContent> DeleteChannelAsync(Guid id, AlertService service, CancellationToken cancellationToken)
    {
        await service.DeleteChannelAsync(id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<AlertSendResult>> TestChannelAsync(Guid id, AlertService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.TestChannelAsync(id, cancellationToken));

    internal static async Task<Ok<List<AlertRuleDto>>> ListRulesAsync(AlertService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.RulesAsync(cancellationToken));

    internal static async Task<Created<AlertRuleDto>> CreateRuleAsync(CreateAlertRuleRequest request, AlertService service, CancellationToken cancellationToken)
    {
        var created = await service.CreateRuleAsync(request, cancellationToken);
        return TypedResults.Created($"/api/v1/alerts/rules/{created.Id}", created);
    }

    internal static async Task<Ok<AlertRuleDto>> UpdateRuleAsync(Guid id, UpdateAlertRuleRequest request, AlertService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateRuleAsync(id, request, cancellationToken));

    internal static async Task<NoContent> DeleteRuleAsync(Guid id, AlertService service, CancellationToken cancellationToken)
    {
        await service.DeleteRuleAsync(id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<List<AlertIncidentDto>>> ListIncidentsAsync(AlertService service, CancellationToken cancellationToken, int limit = 50) =>
        TypedResults.Ok(await service.IncidentsAsync(limit, cancellationToken));
}
