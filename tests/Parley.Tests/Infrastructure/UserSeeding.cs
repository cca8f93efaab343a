using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Auth;

namespace Parley.Tests.Infrastructure;

public static class UserSeeding
{
    public const string Password = "Agent-Password-7";

    /// <summary>Creates an active user directly through the accounts service (there is no user admin API yet).</summary>
    public static async Task<User> CreateUserAsync(this ParleyServer server, string email, string displayName, UserRole role = UserRole.Agent)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<UserAccounts>().CreateAsync(email, Password, displayName, role, CancellationToken.None);
    }
}
