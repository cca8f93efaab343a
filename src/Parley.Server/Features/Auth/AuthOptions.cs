namespace Parley.Server.Features.Auth;

/// <summary>Unattended first start: an admin and a site created from configuration.</summary>
public sealed class BootstrapOptions
{
    public const string Section = "Parley:Bootstrap";

    public string? AdminEmail { get; set; }

    public string? AdminPassword { get; set; }

    public string AdminName { get; set; } = "Admin";

    /// <summary>Key of the first site; a random one is generated when empty.</summary>
    public string? SiteKey { get; set; }

    public string SiteName { get; set; } = "My website";
}
