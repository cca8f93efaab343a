using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Auth;

/// <summary>Sign-in hardening: password policy, throttling, lockout, sessions, API tokens (Parley:SignIn).</summary>
public sealed class SignInOptions
{
    public const string Section = "Parley:SignIn";

    /// <summary>Minimum password length (NIST SP 800-63B: length and a blocklist, no composition rules).</summary>
    [Range(8, 128)]
    public int MinPasswordLength { get; set; } = 8;

    /// <summary>Failed sign-ins per account and client IP that pass without a delay.</summary>
    [Range(0, 1000)]
    public int FreeFailures { get; set; } = 3;

    /// <summary>Wait before the attempt that follows the free failures; it doubles with each further failure.</summary>
    [Range(1, 3600)]
    public int BaseDelaySeconds { get; set; } = 1;

    /// <summary>Longest delay between two attempts on one account from one IP.</summary>
    [Range(1, 86400)]
    public int MaxDelaySeconds { get; set; } = 300;

    /// <summary>Failed sign-ins per client IP (any account) within the window before further attempts are refused.</summary>
    [Range(1, 100000)]
    public int MaxFailuresPerIp { get; set; } = 30;

    /// <summary>How long failures are remembered.</summary>
    [Range(1, 1440)]
    public int ThrottleWindowMinutes { get; set; } = 15;

    /// <summary>Absolute lifetime of a console session.</summary>
    [Range(1, 8760)]
    public int SessionHours { get; set; } = 12;

    /// <summary>Longest lifetime an API token may be given.</summary>
    [Range(1, 3650)]
    public int MaxTokenDays { get; set; } = 365;
}
