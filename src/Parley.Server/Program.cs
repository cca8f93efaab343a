using Parley.Server;

// `Parley.Server migrate` brings the database schema up to date and exits (for clusters that turn off
// migrations at start); anything else runs the server.
if (args is ["migrate", .. var rest])
{
    await ParleyApp.MigrateAsync(rest);
    return;
}

var app = ParleyApp.Create(args);
await app.RunAsync();

/// <summary>Entry point; everything is wired in <see cref="ParleyApp"/>.</summary>
public partial class Program;
