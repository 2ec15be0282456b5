defmodule Pipeline.DSPy.Connection.StateTest do
  # The pure request table and framing, without a process: every action the Port owner
  # would perform is checked as data.
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.{Error, JSON}
  alias Pipeline.DSPy.Connection.State

  # A connection whose handshake completed, and the frames it wrote for it (dropped).
  defp ready do
    {id, s} = State.connecting(State.new(), ~s({"protocolVersion":"1.0"}))
    {s, [:ready]} = State.handle_frame(s, ~s({"jsonrpc":"2.0","id":#{id},"result":{}}))
    drop_outbox(s)
  end

  defp drop_outbox(s) do
    case State.next_frame(s) do
      {:ok, _frame} -> drop_outbox(State.frame_written(s))
      :empty -> s
    end
  end

  # The frames queued so far, decoded, oldest first; and the state without them.
  defp written(s) do
    frames = s |> State.queued_frames() |> Enum.map(&JSON.decode!(IO.iodata_to_binary(&1)))
    {frames, drop_outbox(s)}
  end

  defp call_req(method, params \\ "{}", timeout \\ 5_000) do
    from = {self(), make_ref()}

    %{
      method: method,
      params: params,
      timeout: timeout,
      reply_to: {:call, from},
      monitor: make_ref()
    }
  end

  defp async_req(method, opts \\ []) do
    ref = make_ref()

    %{
      method: method,
      params: Keyword.get(opts, :params, "{}"),
      timeout: Keyword.get(opts, :timeout, 5_000),
      reply_to: {:async, self(), ref},
      monitor: make_ref(),
      progress: Keyword.get(opts, :progress, false)
    }
  end

  defp response(id, result), do: JSON.encode!(%{jsonrpc: "2.0", id: id, result: result})

  defp replies(actions), do: for({:reply, to, result} <- actions, do: {to, result})

  describe "handshake" do
    test "connecting queues initialize; its answer makes the connection ready" do
      {id, s} = State.connecting(State.new(), ~s({"protocolVersion":"1.0"}))
      assert s.status == :starting

      assert {[
                %{
                  "id" => ^id,
                  "method" => "initialize",
                  "params" => %{"protocolVersion" => "1.0"}
                }
              ], s} = written(s)

      {s, actions} = State.handle_frame(s, response(id, %{}))
      assert actions == [:ready]
      assert s.status == :ready and s.init_id == nil
    end

    test "requests made before the handshake are kept, then written in id order once ready" do
      {init, s} = State.connecting(State.new(), "{}")
      {_, s} = written(s)
      {a, s, [{:start_timer, a, 5_000}]} = State.submit(s, call_req("a"))
      {b, s, _} = State.submit(s, call_req("b", nil))
      assert State.queued_frames(s) == []

      {s, [:ready]} = State.handle_frame(s, response(init, %{}))

      assert {[
                %{"id" => ^a, "method" => "a", "params" => %{}},
                %{"id" => ^b, "method" => "b"} = fb
              ], _} = written(s)

      # absent params are left out, never "params": null
      refute Map.has_key?(fb, "params")
    end

    test "a refused initialize is reported; the error is not taken for anything else" do
      {id, s} = State.connecting(State.new(), "{}")
      err = ~s({"jsonrpc":"2.0","id":#{id},"error":{"code":-32602,"message":"bad learning"}})
      {s, actions} = State.handle_frame(s, err)
      assert [{:log, :error, msg}, {:init_refused, %{"code" => -32602}}] = actions
      assert msg =~ "bad learning"
      assert s.init_id == nil and s.status == :starting
    end

    test "an id: null error while starting is not the handshake's answer" do
      {_id, s} = State.connecting(State.new(), "{}")

      {s2, actions} =
        State.handle_frame(
          s,
          ~s({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}})
        )

      assert [{:log, :error, _}] = actions
      assert s2.status == :starting and s2.init_id == s.init_id
    end
  end

  describe "request table" do
    test "add then resolve: the caller gets the result once, its timer and monitor are dropped" do
      s = ready()
      req = call_req("ping")
      {id, s, [{:start_timer, id, 5_000}]} = State.submit(s, req)
      s = State.put_timer(s, id, :the_timer)

      assert {[%{"jsonrpc" => "2.0", "id" => ^id, "method" => "ping", "params" => %{}}], s} =
               written(s)

      refute State.idle?(s)

      {s, actions} = State.handle_frame(s, response(id, %{"pong" => true}))

      assert actions == [
               {:cancel_timer, :the_timer},
               {:demonitor, req.monitor},
               {:reply, req.reply_to, {:ok, %{"pong" => true}}}
             ]

      assert State.idle?(s)
      # a second answer to the same id (or a late one after a timeout) does nothing
      assert {^s, []} = State.handle_frame(s, response(id, %{}))
    end

    test "ids are unique and increasing across requests" do
      s = ready()
      {a, s, _} = State.submit(s, call_req("a"))
      {b, s, _} = State.submit(s, async_req("b"))
      {c, _s, _} = State.submit(s, call_req("c"))
      assert a < b and b < c
    end

    test "an error answer becomes a matchable %Error{} with the JSON-RPC code" do
      s = ready()
      req = call_req("nope")
      {id, s, _} = State.submit(s, req)

      err =
        ~s({"jsonrpc":"2.0","id":#{id},"error":{"code":-32601,"message":"Method not found: nope"}})

      {_s, actions} = State.handle_frame(s, err)

      assert [
               {_,
                {:error,
                 %Error{
                   reason: :method_not_found,
                   code: -32601,
                   message: "Method not found: nope"
                 }}}
             ] = replies(actions)
    end

    test "no timer for a request without a timeout" do
      assert {_id, _s, []} = State.submit(ready(), call_req("x", "{}", :infinity))
    end

    test "timeout of a sent request: :timeout for the caller, $/cancelRequest for the sidecar" do
      s = ready()
      req = call_req("slow", "{}", 100)
      {id, s, _} = State.submit(s, req)
      s = State.put_timer(s, id, :t)
      {_, s} = written(s)
      {s, actions} = State.timeout(s, id)

      assert [{_, {:error, %Error{reason: :timeout, message: msg}}}] = replies(actions)
      assert msg == "slow: no answer within 100 ms"
      # the timer is the one that fired: not cancelled again
      refute Enum.any?(actions, &match?({:cancel_timer, _}, &1))
      assert {:demonitor, req.monitor} in actions

      assert {[%{"method" => "$/cancelRequest", "params" => %{"id" => ^id}} = f], s} = written(s)
      refute Map.has_key?(f, "id")
      assert State.idle?(s)
      # its answer arriving afterwards is dropped
      assert {_, []} = State.handle_frame(s, response(id, %{}))
    end

    test "timeout of a request still waiting for the sidecar: :sidecar_unavailable, nothing written" do
      {_init, s} = State.connecting(State.new(), "{}")
      {_, s} = written(s)
      {id, s, _} = State.submit(s, call_req("early", "{}", 50))
      {s, actions} = State.timeout(s, id)

      assert [{_, {:error, %Error{reason: :sidecar_unavailable}}}] = replies(actions)
      assert State.queued_frames(s) == []
      assert State.idle?(s)
    end

    test "a timeout for a finished request is ignored" do
      s = ready()
      {id, s, _} = State.submit(s, call_req("x"))
      {s, _} = State.handle_frame(s, response(id, 1))
      {_, s} = written(s)
      assert {^s, []} = State.timeout(s, id)
    end

    test "cancel of an async request: :cancelled at once, $/cancelRequest sent, ref forgotten" do
      s = ready()
      req = async_req("optimize")
      {:async, _, ref} = req.reply_to
      {id, s, _} = State.submit(s, req)
      {_, s} = written(s)

      {:ok, s, actions} = State.cancel(s, ref)
      assert [{{:async, _, ^ref}, {:error, %Error{reason: :cancelled}}}] = replies(actions)
      assert {[%{"method" => "$/cancelRequest", "params" => %{"id" => ^id}}], s} = written(s)
      assert State.idle?(s)
      assert State.cancel(s, ref) == :error
    end

    test "cancel of a request not yet written sends nothing to the sidecar" do
      {_init, s} = State.connecting(State.new(), "{}")
      {_, s} = written(s)
      req = async_req("optimize")
      {:async, _, ref} = req.reply_to
      {_id, s, _} = State.submit(s, req)
      {:ok, s, actions} = State.cancel(s, ref)
      assert [{_, {:error, %Error{reason: :cancelled}}}] = replies(actions)
      assert State.queued_frames(s) == []
    end

    test "a caller that died: its request is dropped and cancelled on the sidecar" do
      s = ready()
      req = call_req("long")
      {id, s, _} = State.submit(s, req)
      {_, s} = written(s)
      assert State.caller?(s, req.monitor)

      {s, actions} = State.caller_down(s, req.monitor)

      assert [{_, {:error, %Error{reason: :cancelled, message: "the caller exited"}}}] =
               replies(actions)

      assert {[%{"method" => "$/cancelRequest", "params" => %{"id" => ^id}}], s} = written(s)
      refute State.caller?(s, req.monitor)
      assert State.idle?(s)
      # an unknown monitor changes nothing
      assert {^s, []} = State.caller_down(s, make_ref())
    end

    test "sidecar exit: every sent request fails with :sidecar_exited, unsent ones wait for the next sidecar" do
      s = ready()
      sent1 = call_req("a")
      sent2 = async_req("b")
      {_id1, s, _} = State.submit(s, sent1)
      {_id2, s, _} = State.submit(s, sent2)
      # a frame not yet written when the port died is dropped with it
      s = State.queue_frame(s, "{}")

      {s, actions} = State.sidecar_down(s, "exit status 137")
      assert s.status == :down
      assert State.queued_frames(s) == []

      assert [{to1, {:error, e1}}, {to2, {:error, e2}}] = replies(actions)
      assert {to1, to2} == {sent1.reply_to, sent2.reply_to}
      assert e1.reason == :sidecar_exited and e2.reason == :sidecar_exited
      assert e1.message =~ "exit status 137"
      assert State.idle?(s)

      # a request made while down is written to the next sidecar once it is ready
      waiting = call_req("later")
      {id, s, _} = State.submit(s, waiting)
      {init, s} = State.connecting(s, "{}")
      assert {[%{"method" => "initialize"}], s} = written(s)
      {s, [:ready]} = State.handle_frame(s, response(init, %{}))
      assert {[%{"id" => ^id, "method" => "later"}], s} = written(s)
      {_s, actions} = State.handle_frame(s, response(id, "ok"))
      assert [{waiting.reply_to, {:ok, "ok"}}] == replies(actions)
    end

    test "a sidecar that dies before its handshake: the requests waiting for it keep waiting" do
      {_init, s} = State.connecting(State.new(), "{}")
      waiting = async_req("early")
      {id, s, _} = State.submit(s, waiting)

      {s, actions} = State.sidecar_down(s, "initialize timed out")
      assert replies(actions) == []
      refute State.idle?(s)

      {init, s} = State.connecting(s, "{}")
      {s, [:ready]} = State.handle_frame(s, response(init, %{}))
      assert {[%{"method" => "initialize"}, %{"id" => ^id, "method" => "early"}], _} = written(s)
    end

    test "shutdown: async callers are told, blocking ones are not (they get the owner's exit)" do
      s = ready()
      sync = call_req("a")
      async = async_req("b")
      {_, s, _} = State.submit(s, sync)
      {_, s, _} = State.submit(s, async)
      {_, s} = written(s)

      {id, s, actions} = State.shutdown(s)
      assert [{to, {:error, %Error{reason: :sidecar_exited}}}] = replies(actions)
      assert to == async.reply_to
      assert {[%{"id" => ^id, "method" => "shutdown"}], _} = written(s)

      # not ready: no shutdown request
      assert {nil, _, []} = State.shutdown(State.new())
    end
  end

  describe "progress tokens" do
    test "an async request with progress carries a token that routes to its caller until it ends" do
      s = ready()
      req = async_req("optimize", params: ~s({"seed":1}), progress: true)
      {:async, pid, ref} = req.reply_to
      {id, s, _} = State.submit(s, req)
      assert {[%{"params" => %{"seed" => 1, "progressToken" => token}}], s} = written(s)
      assert is_binary(token)
      assert State.progress_owner(s, token) == {pid, ref}

      {s, _} = State.handle_frame(s, response(id, %{}))
      assert State.progress_owner(s, token) == nil
    end

    test "no token without progress, and a token is added to absent or empty params" do
      s = ready()
      {_, s, _} = State.submit(s, async_req("a"))
      {_, s, _} = State.submit(s, async_req("b", params: nil, progress: true))
      {_, s, _} = State.submit(s, async_req("c", params: "{}", progress: true))

      assert {[
                %{"params" => pa},
                %{"params" => %{"progressToken" => tb}},
                %{"params" => %{"progressToken" => tc}}
              ], _} = written(s)

      assert pa == %{}
      assert tb != tc
    end
  end

  describe "incoming frames" do
    test "a batch is taken in order: responses finish, requests and notifications come back to route" do
      s = ready()
      req = call_req("x")
      {id, s, _} = State.submit(s, req)

      batch =
        ~s([{"jsonrpc":"2.0","method":"log","params":{"message":"hi"}},) <>
          ~s({"jsonrpc":"2.0","id":#{id},"result":7},) <>
          ~s({"jsonrpc":"2.0","id":"abc","method":"pipeline/execute","params":{"config":{}}}])

      {_s, actions} = State.handle_frame(s, batch)

      assert [
               {:notification, "log", %{"message" => "hi"}},
               {:demonitor, _},
               {:reply, _, {:ok, 7}},
               {:incoming_request, "pipeline/execute", key, %{"config" => %{}}}
             ] = Enum.reject(actions, &match?({:cancel_timer, _}, &1))

      # the request's id is kept as received (JSON-encoded), so it is answered with the same id
      assert key == ~s("abc")
    end

    test "an unparsable frame is answered -32700 with id null and logged" do
      {s, actions} = State.handle_frame(ready(), "{not json")
      assert [{:log, :error, _}] = actions

      assert {[%{"id" => nil, "error" => %{"code" => -32700, "message" => "Parse error" <> _}}],
              _} = written(s)
    end

    test "a message that is no JSON-RPC message is answered -32600" do
      for bad <- [~s({"jsonrpc":"2.0"}), "[]", "3", ~s({"method":7})] do
        {s, actions} = State.handle_frame(ready(), bad)
        assert [{:log, :warning, _}] = actions, bad
        assert {[%{"id" => nil, "error" => %{"code" => -32600}}], _} = written(s)
      end
    end

    test "an id: null error (the sidecar could not correlate a message) is logged, nothing is answered" do
      s = ready()
      {_id, s, _} = State.submit(s, call_req("x"))
      {_, s} = written(s)

      {s2, actions} =
        State.handle_frame(
          s,
          ~s({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"too large"}})
        )

      assert [{:log, :error, msg}] = actions
      assert msg =~ "too large"
      assert s2 == s
    end
  end

  describe "outbox" do
    test "frames come out in order, each taken out only once written" do
      s = State.new() |> State.queue_frame("a") |> State.queue_frame("b")
      assert {:ok, "a"} = State.next_frame(s)
      # a write refused by a busy port: the same frame is next again
      assert {:ok, "a"} = State.next_frame(s)
      s = State.frame_written(s)
      assert {:ok, "b"} = State.next_frame(s)
      s = State.frame_written(s)
      assert State.next_frame(s) == :empty
      assert State.frame_written(s) == s
    end

    test "a request that ends before its frame was written is taken out; the sidecar hears nothing of it" do
      for finish <- [:timeout, :cancel, :caller_down] do
        s = ready() |> State.queue_frame(~s({"before":1}))
        req = async_req("slow")
        {:async, _, ref} = req.reply_to
        {id, s, _} = State.submit(s, req)
        s = State.queue_frame(s, ~s({"after":1}))

        {s, actions} =
          case finish do
            :timeout -> State.timeout(s, id)
            :cancel -> State.cancel(s, ref) |> then(fn {:ok, s, a} -> {s, a} end)
            :caller_down -> State.caller_down(s, req.monitor)
          end

        assert [{_, {:error, %Error{}}}] = replies(actions)
        assert {[%{"before" => 1}, %{"after" => 1}], s} = written(s), "#{finish}"
        assert State.idle?(s)
      end
    end

    test "once its frame is written, a request that ends gets a $/cancelRequest" do
      s = ready()
      {id, s, _} = State.submit(s, call_req("slow"))
      {:ok, _} = State.next_frame(s)
      s = State.frame_written(s)
      {s, _} = State.timeout(s, id)
      assert {[%{"method" => "$/cancelRequest", "params" => %{"id" => ^id}}], _} = written(s)
    end
  end
end
