namespace Parley.Server.Features.Web;

/// <summary>
/// Developer surfaces (<c>Parley:Web</c>): the OpenAPI document and the Scalar API reference. Unset, they are served
/// outside the Production environment only: a production server does not publish its API map to anonymous callers
/// unless the operator says so.
/// </summary>
public sealed class WebOptions
{
    public const string Section = "Parley:Web";

    /// <summary><c>GET /openapi/v1.json</c>; null: on outside Production.</summary>
    public bool? OpenApi { get; set; }

    /// <summary>The interactive reference at <c>/scalar</c> (it reads the OpenAPI document); null: on outside Production.</summary>
    public bool? Scalar { get; set; }

    /// <summary>A surface's setting, or its default for the environment.</summary>
    public static bool Enabled(bool? setting, IHostEnvironment environment) => setting ?? !environment.IsProduction();
}
