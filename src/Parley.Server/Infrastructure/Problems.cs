using Microsoft.AspNetCore.Http.HttpResults;

namespace Parley.Server.Infrastructure;

/// <summary>RFC 9457 problem details with a stable <c>code</c> member clients can switch on.</summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string code, string title, string? detail = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, extensions: new Dictionary<string, object?> { ["code"] = code });

    public static ProblemHttpResult From(ParleyException ex) => Create(ex.Status, ex.Code, ex.Message);

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
                return Create(StatusCodes.Status503ServiceUnavailable, "unavailable", ex.Message);
            }
        });
        return group;
    }
}
