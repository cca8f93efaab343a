using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Csat;

public sealed record RatingRequest(int Score, [property: MaxLength(2000)] string? Comment);

[MessagePack.MessagePackObject]
public sealed record RatingDto
{
    [MessagePack.Key("conversationId")] public Guid ConversationId { get; init; }

    [MessagePack.Key("score")] public int Score { get; init; }

    [MessagePack.Key("comment")] public string? Comment { get; init; }

    [MessagePack.Key("createdAt")] public DateTime CreatedAt { get; init; }

    public static RatingDto From(ConversationRating r) => new() { ConversationId = r.ConversationId, Score = r.Score, Comment = r.Comment, CreatedAt = r.CreatedAt };
}

/// <summary>Satisfaction rating: 1-5 and an optional comment, once, after the conversation is closed.</summary>
public sealed class CsatService(ParleyDbContext db, DomainEvents events, TimeProvider time)
{
    public async Task<RatingDto> RateAsync(Guid contactId, Guid conversationId, RatingRequest request, CancellationToken cancellationToken)
    {
        if (request.Score is < 1 or > 5)
        {
            throw new ParleyException(ErrorCatalogue.InvalidScore, "The score must be between 1 and 5.");
        }

        var conversation = await db.Conversations.AsNoTracking().FirstOrDefaultAsync(c => c.Id == conversationId && c.ContactId == contactId, cancellationToken)
            ?? throw ParleyException.NotFound();
        if (conversation.Status != ConversationStatus.Closed)
        {
            throw new ParleyException(ErrorCatalogue.ConversationNotClosed, "A conversation can be rated once it is closed.");
        }

        if (await db.ConversationRatings.AnyAsync(r => r.ConversationId == conversationId, cancellationToken))
        {
            throw AlreadyRated();
        }

        var comment = string.IsNullOrWhiteSpace(request.Comment) ? null : request.Comment.Trim();
        var rating = new ConversationRating { ConversationId = conversationId, ContactId = contactId, Score = request.Score, Comment = comment, CreatedAt = time.GetUtcNow().UtcDateTime };
        db.ConversationRatings.Add(rating);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw AlreadyRated(); // a concurrent second rating lost the race on the primary key
        }

        var dto = RatingDto.From(rating);
        events.Publish(new ConversationRated(dto));
        return dto;
    }

    private static ParleyException AlreadyRated() =>
        new(ErrorCatalogue.AlreadyRated);

    public async Task<RatingDto?> FindAsync(Guid conversationId, CancellationToken cancellationToken) =>
        await db.ConversationRatings.AsNoTracking().Where(r => r.ConversationId == conversationId).Select(r => RatingDto.From(r)).FirstOrDefaultAsync(cancellationToken);
}

/// <summary>Tells the agents watching a conversation that it was rated (hub event <c>rated</c>).</summary>
internal sealed class RatingFanout(ConnectionRegistry registry) : IDomainEventListener<ConversationRated>
{
    public void Handle(ConversationRated domainEvent)
    {
        SerializedHubMessage? message = null;
        foreach (var connection in registry.SubscribersOf(domainEvent.Rating.ConversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                message ??= new SerializedHubMessage(new InvocationMessage("rated", [domainEvent.Rating]));
                connection.Enqueue(message);
            }
        }
    }
}

public static class CsatApi
{
    public static IEndpointRouteBuilder MapCsatApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/widget/conversations").WithTags("Widget").RequireAuthorization(ParleyClaims.VisitorPolicy).WithParleyErrors()
            .MapPost("/{id:guid}/rating", RateAsync)
            .WithName("RateConversation")
            .WithSummary("Rate a closed conversation (1-5 and an optional comment), once");
        app.MapGroup("/api/v1/conversations").WithTags("Conversations").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors()
            .MapGet("/{id:guid}/rating", GetAsync)
            .WithName("GetConversationRating")
            .WithSummary("The visitor's satisfaction rating, if given");
        return app;
    }

    internal static async Task<Ok<RatingDto>> RateAsync(Guid id, RatingRequest request, System.Security.Claims.ClaimsPrincipal user, CsatService csat, CancellationToken cancellationToken) =>
        TypedResults.Ok(await csat.RateAsync(user.VisitorContactId() ?? Guid.Empty, id, request, cancellationToken));

    internal static async Task<Results<Ok<RatingDto>, ProblemHttpResult>> GetAsync(
        Guid id, CsatService csat, Access.AccessPolicy access, System.Security.Claims.ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(Actor.Agent(user), id, Access.ConversationAction.Read, cancellationToken);
        return await csat.FindAsync(id, cancellationToken) is { } rating
            ? TypedResults.Ok(rating)
            : Problems.Create(ErrorCatalogue.RatingNotFound, "This conversation has not been rated.");
    }
}
