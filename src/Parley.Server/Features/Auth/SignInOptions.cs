using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Auth;

/// <summary>Sign-in hardening: password policy, throttling, lockout, sessions, API tokens (Parley:SignIn).</summary>
public sealed class SignInOptions
{
    public const string Section = "Parley:SignIn";

    /// <summary>Minimum password length (NIST SP 800-63B: length and a blocklist, no composition rules).</summary>
    [Range(8, 128)]
    public int MinPasswordLength { get; set; } = 8;

    /// <summary>Failed sign-ins per submitted email within the window before further attempts are refused.</summary>
    [Range(1, 1000)]
    public int MaxFailuresPerAccount { get; set; } = 5;

    /// <summary>Failed sign-ins per client IP within the window before further attempts are refused.</summary>
    [Range(1, 100000)]
    public int MaxFailuresPerIp { get; set; } = 30;

    [Range(1, 1440)]
    public int ThrottleWindowMinutes { get; set; } = 15;

    /// <summary>Consecutive failures (stored with the account, so across restarts and nodes) that lock it.</summary>
    [Range(1, 1000)]
    public int LockoutThreshold { get; set; } = 10;

    [Range(1, 10080)]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>Absolute lifetime of a console session.</summary>
    [Range(1, 8760)]
    public int SessionHours { get; set; } = 12;

    /// <summary>Longest lifetime an API token may be given.</summary>
    [Range(1, 3650)]
    public int MaxTokenDays { get; set; } = 365;
}
