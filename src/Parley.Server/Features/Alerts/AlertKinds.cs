namespace Parley.Server.Features.Alerts;

/// <summary>Where a notice can go.</summary>
public static class AlertChannelKinds
{
    public const string Webhook = "webhook";
    public const string Slack = "slack";
    public const string WeCom = "wecom";
    public const string DingTalk = "dingtalk";

    public static readonly IReadOnlyList<string> All = [Webhook, Slack, WeCom, DingTalk];
}

/// <summary>
/// One kind of rule: its threshold's default and bounds (in the rule's unit), whether it may name a department, and
/// whether every node measures it itself (<see cref="NodeLocal"/>: the subject is the node) or the sending node
/// evaluates it for the cluster from the store.
/// </summary>
public sealed record AlertRuleKind(string Name, double DefaultThreshold, double Min, double Max, bool PerDepartment, bool NodeLocal)
{
    public bool HasThreshold => Max > 0;
}

public static class AlertRuleKinds
{
    /// <summary>Oldest waiting conversation of a department, seconds.</summary>
    public static readonly AlertRuleKind QueueWait = new AlertRuleKind("queue_wait", 300, 10, 86_400, PerDepartment: true, NodeLocal: false);

    /// <summary>Nobody online while the department's business hours are open (no threshold).</summary>
    public static readonly AlertRuleKind NoAgentOnline = new AlertRuleKind("no_agent_online", 0, 0, 0, PerDepartment: true, NodeLocal: false);

    /// <summary>Fraction of HTTP requests answered 5xx over the window.</summary>
    public static readonly AlertRuleKind ErrorRate = new AlertRuleKind("error_rate", 0.05, 0.001, 1, PerDepartment: false, NodeLocal: true);

    /// <summary>p99 of the group commit over the window, seconds.</summary>
    public static readonly AlertRuleKind CommitLatency = new AlertRuleKind("commit_latency", 0.25, 0.001, 60, PerDepartment: false, NodeLocal: true);

    /// <summary>Free megabytes where the data directory (SQLite, attachments) lives; fires below.</summary>
    public static readonly AlertRuleKind DiskSpace = new AlertRuleKind("disk_space", 2048, 1, 10_000_000, PerDepartment: false, NodeLocal: true);

    /// <summary>The server disabled a webhook endpoint after it kept failing (no threshold).</summary>
    public static readonly AlertRuleKind WebhookDisabled = new AlertRuleKind("webhook_disabled", 0, 0, 0, PerDepartment: false, NodeLocal: false);

    public static readonly IReadOnlyList<AlertRuleKind> All = [QueueWait, NoAgentOnline, ErrorRate, CommitLatency, DiskSpace, WebhookDisabled];

    public static AlertRuleKind? Find(string? name) => All.FirstOrDefault(k => k.Name == name);
}
