namespace Parley.Server.Features.Auth;

/// <summary>Unattended first start: an admin and a site created from configuration.</summary>
public sealed class BootstrapOptions
{
    public const string Section = "Parley:Bootstrap";

    public string? AdminEmail { get; set; }

    public string? AdminPassword { get; set; }

    /// <summary>
    /// Whether the admin created from <see cref="AdminPassword"/> must choose a new password at first sign-in (a
    /// configured password sits in files, environments and shell histories). Turn off only for test rigs.
    /// </summary>
    public bool RequirePasswordChange { get; set; } = true;

    public string AdminName { get; set; } = "Admin";

    /// <summary>Key of the first site; a random one is generated when empty.</summary>
    public string? SiteKey { get; set; }

    public string SiteName { get; set; } = "My website";
}
