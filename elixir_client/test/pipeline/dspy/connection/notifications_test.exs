defmodule Pipeline.DSPy.Connection.NotificationsTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias Pipeline.DSPy.Connection.Notifications
  alias Pipeline.DSPy.Promotions

  defp ctx(owners \\ %{}, server \\ :no_server),
    do: %{server: server, progress_owner: &Map.get(owners, &1)}

  test "$/progress goes to the owner of its token, and nowhere for an unknown token" do
    ref = make_ref()
    ctx = ctx(%{"p1" => {self(), ref}})

    assert :ok =
             Notifications.route(
               "$/progress",
               %{"token" => "p1", "value" => %{"trial" => 2}},
               ctx
             )

    assert_received {:dspy_progress, ^ref, %{"trial" => 2}}

    assert :ok = Notifications.route("$/progress", %{"token" => "p9", "value" => 1}, ctx)
    refute_received {:dspy_progress, _, _}
  end

  test "log goes to Logger at the sidecar's level" do
    log =
      capture_log(fn ->
        Notifications.route("log", %{"level" => "error", "message" => "disk full"}, ctx())
      end)

    assert log =~ "[error]" and log =~ "[sidecar] disk full"

    assert Enum.map(
             ~w(fatal error warn warning info debug trace other),
             &Notifications.log_level/1
           ) ==
             [:error, :error, :warning, :warning, :info, :debug, :debug, :info]
  end

  test "learning/promoted reaches the instance's subscribers and is logged" do
    server = :"notif_#{System.unique_integer([:positive])}"
    start_supervised!(Promotions.child_spec(server))
    :ok = Promotions.subscribe(server)

    params = %{
      "pipeline" => "code_analysis",
      "version" => 3,
      "decision" => %{"currentMean" => 0.5, "candidateMean" => 0.75}
    }

    log =
      capture_log(fn -> Notifications.route("learning/promoted", params, ctx(%{}, server)) end)

    assert_received {:dspy_promoted, "code_analysis", ^params}
    assert log =~ "code_analysis" and log =~ "version 3" and log =~ "0.500 -> 0.750"
  end

  test "other notifications are ignored" do
    assert :ok = Notifications.route("something/new", %{"a" => 1}, ctx())
    refute_received _
  end
end
