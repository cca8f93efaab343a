using Microsoft.AspNetCore.Http.HttpResults;

namespace Parley.Server.Infrastructure;

/// <summary>RFC 9457 problem details with a stable <c>code</c> member clients can switch on.</summary>
public static class Problems
{
    /// <summary>A problem for a catalogued code; its status is the catalogue's unless <paramref name="status"/> says otherwise.</summary>
    public static ProblemHttpResult Create(ErrorCode code, string title, string? detail = null, int? status = null) =>
        TypedResults.Problem(detail: detail, statusCode: status ?? code.Status, title: title, extensions: new Dictionary<string, object?> { ["code"] = code.Code });

    public static ProblemHttpResult From(ParleyException ex) => Create(ex.Error, ex.Message);

    /// <summary>Maps expected failures thrown by handlers to problem responses.</summary>
    public static RouteGroupBuilder WithParleyErrors(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            try
            {
                TextInputFilter.Check(context);
                return await next(context);
            }
            catch (ParleyException ex)
            {
                return From(ex);
            }
            catch (Messaging.StoreUnavailableException ex)
            {
                return Create(ErrorCatalogue.Unavailable, ex.Message);
            }
        });
        return group;
    }
}
