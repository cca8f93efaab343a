using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Users;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>Departments, users and conversations for security tests, made through the API where one exists.</summary>
public static class SecurityFixtures
{
    public const string Password = "Sandbox-Pass-42";

    /// <summary>A team row (the teams admin API belongs to routing; the sandbox only needs the row).</summary>
    public static async Task<Guid> CreateTeamAsync(this ParleyServer server, string name)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var team = new Team { Id = Guid.CreateVersion7(), Name = name, CreatedAt = DateTime.UtcNow };
        db.Teams.Add(team);
        await db.SaveChangesAsync();
        return team.Id;
    }

    /// <summary>Creates a user through the admin API, signed in as the bootstrap admin.</summary>
    public static async Task<UserAdminDto> CreateUserAsync(this ParleyServer server, string email, string role, params Guid[] teamIds)
    {
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var response = await admin.PostAsJsonAsync("/api/v1/users", new { email, displayName = email.Split('@')[0], role, password = Password, teamIds });
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<CreatedUser>())!.User;
        }
    }

    /// <summary>Routes a conversation to a department the way routing will (then tells this node's cache nothing: the row is the truth).</summary>
    public static async Task SetTeamAsync(this ParleyServer server, Guid conversationId, Guid? teamId)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        await db.Conversations.Where(c => c.Id == conversationId).ExecuteUpdateAsync(s => s.SetProperty(c => c.TeamId, teamId));
    }

    /// <summary>A visitor with an open conversation in the given department and one message in it.</summary>
    public static async Task<(VisitorClient Visitor, Guid ConversationId)> VisitorInTeamAsync(this ParleyServer server, Guid? teamId, string firstMessage = "hello")
    {
        var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await server.SetTeamAsync(conversation.Id, teamId);
        await visitor.SendAsync(conversation.Id, firstMessage);
        return (visitor, conversation.Id);
    }

    public static async Task<HttpClient> SignInAsync(this ParleyServer server, string email, string password = Password) =>
        (await AgentClient.SignInAsync(server, email, password)).Http;

    public static AccessDirectory Access(this ParleyServer server) => server.Services.GetRequiredService<AccessDirectory>();
}
