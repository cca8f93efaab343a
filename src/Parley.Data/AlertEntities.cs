using Microsoft.EntityFrameworkCore;

namespace Parley.Data;

/// <summary>
/// Where alerts go (docs/operations.md, Alerts): a generic webhook signed like Parley's webhooks, a Slack incoming
/// webhook, a WeCom (企业微信) group robot or a DingTalk (钉钉) robot.
/// </summary>
public sealed class AlertChannel
{
    public Guid Id { get; set; }

    /// <summary>webhook, slack, wecom or dingtalk.</summary>
    public required string Kind { get; set; }

    public required string Name { get; set; }

    /// <summary>The target. For the chat apps it carries the robot's token, so it is never shown back in full.</summary>
    public required string Url { get; set; }

    /// <summary>webhook: the <c>whsec_</c> signing secret; dingtalk: the robot's optional signing secret (<c>SEC...</c>).</summary>
    public string? Secret { get; set; }

    /// <summary>Language of the notices: en or zh-CN.</summary>
    public required string Language { get; set; }

    public bool Enabled { get; set; } = true;

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>A condition Parley watches and tells the alert channels about.</summary>
public sealed class AlertRule
{
    public Guid Id { get; set; }

    /// <summary>queue_wait, no_agent_online, error_rate, commit_latency, disk_space or webhook_disabled.</summary>
    public required string Kind { get; set; }

    /// <summary>One department (queue_wait, no_agent_online); null: every department.</summary>
    public Guid? TeamId { get; set; }

    /// <summary>In the rule's unit: seconds (queue_wait, commit_latency), a fraction (error_rate), megabytes (disk_space).</summary>
    public double Threshold { get; set; }

    /// <summary>Remind the channels this often while an episode lasts; 0: once per episode.</summary>
    public int RenotifyMinutes { get; set; }

    public bool Enabled { get; set; } = true;

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>
/// One firing episode of a rule for one subject (a department, a node, a webhook endpoint): opened when the condition
/// starts, resolved when it ends. The channels hear of it once (and at the rule's reminder interval) and once more at
/// recovery, whichever node evaluates.
/// </summary>
public sealed class AlertIncident
{
    public long Id { get; set; }

    public Guid RuleId { get; set; }

    public required string Subject { get; set; }

    /// <summary>"{rule}/{subject}" while open, null once resolved; unique, so one episode per rule and subject is open at a time.</summary>
    public string? OpenKey { get; set; }

    /// <summary>The measured value when last seen (seconds, fraction, megabytes).</summary>
    public double Value { get; set; }

    /// <summary>Extra words the server adds (why a webhook endpoint was disabled).</summary>
    public string? Detail { get; set; }

    public DateTime StartedAt { get; set; }

    public DateTime LastSeenAt { get; set; }

    /// <summary>When the channels were last told it fires; null: not yet.</summary>
    public DateTime? NotifiedAt { get; set; }

    public int Notices { get; set; }

    public DateTime? ResolvedAt { get; set; }

    public DateTime? RecoveryNotifiedAt { get; set; }
}

/// <summary>A named lease that one node holds at a time (taken and renewed by a conditional UPDATE): the alert sender.</summary>
public sealed class NodeLease
{
    public required string Name { get; set; }

    public required string Holder { get; set; }

    public DateTime ExpiresAt { get; set; }
}

/// <summary>Model configuration of the alert tables (called from <see cref="ParleyDbContext"/>).</summary>
internal static class AlertModel
{
    public static void Configure(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<AlertChannel>(e =>
        {
            e.Property(x => x.Kind).HasMaxLength(16);
            e.Property(x => x.Name).HasMaxLength(200);
            e.Property(x => x.Url).HasMaxLength(2000);
            e.Property(x => x.Secret).HasMaxLength(200);
            e.Property(x => x.Language).HasMaxLength(8);
        });

        modelBuilder.Entity<AlertRule>(e =>
        {
            e.Property(x => x.Kind).HasMaxLength(32);
            e.HasOne<Team>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<AlertIncident>(e =>
        {
            e.Property(x => x.Subject).HasMaxLength(300);
            e.Property(x => x.OpenKey).HasMaxLength(340);
            e.Property(x => x.Detail).HasMaxLength(1000);
            e.HasOne<AlertRule>().WithMany().HasForeignKey(x => x.RuleId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.OpenKey).IsUnique();
            e.HasIndex(x => x.StartedAt);
        });

        modelBuilder.Entity<NodeLease>(e =>
        {
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasMaxLength(64);
            e.Property(x => x.Holder).HasMaxLength(200);
        });
    }
}
