defmodule Pipeline.DSPy.LoadWorkflowTest do
  # Pipeline.DSPy.load_workflow/2 through the real sidecar (pipeline/load).
  use Pipeline.DSPy.SidecarCase, async: true

  setup do
    {name, _} = start_instance()
    dir = tmp_dir("load_wf")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf(dir) end)
    %{server: name, dir: dir}
  end

  defp write(dir, file, text) do
    path = Path.join(dir, file)
    File.write!(path, text)
    path
  end

  test "returns the workflow map with string keys, unknown keys kept", %{server: s, dir: dir} do
    path =
      write(dir, "ok.yaml", """
      workflow:
        name: demo
        checkpoint_enabled: false
        my_extension: {a: 1}
        steps:
          - name: ask
            type: claude
            prompt:
              - type: static
                content: "Hi {{inputs.who}}"
      """)

    assert {:ok, config} = Pipeline.DSPy.load_workflow(path, server: s)

    assert config == %{
             "workflow" => %{
               "name" => "demo",
               "checkpoint_enabled" => false,
               "my_extension" => %{"a" => 1},
               "steps" => [
                 %{
                   "name" => "ask",
                   "type" => "claude",
                   "prompt" => [%{"type" => "static", "content" => "Hi {{inputs.who}}"}]
                 }
               ]
             }
           }
  end

  test "refuses a plain-string prompt as pipeline_ex's loader does (config.ex:380-382)",
       %{server: s, dir: dir} do
    path =
      write(dir, "str.yaml", """
      workflow:
        name: s
        steps:
          - name: a
            type: claude_smart
            prompt: "plain"
      """)

    assert {:error, %Pipeline.DSPy.Error{reason: :invalid_input, message: msg, data: data}} =
             Pipeline.DSPy.load_workflow(path, server: s)

    assert msg =~ "workflow.steps[0].prompt (claude_smart)"
    assert data["refusal"]["type"] == "claude_smart"
    assert data["config"]["workflow"]["name"] == "s"
  end

  test "a missing file is :invalid_input", %{server: s, dir: dir} do
    assert {:error, %Pipeline.DSPy.Error{reason: :invalid_input}} =
             Pipeline.DSPy.load_workflow(Path.join(dir, "missing.yaml"), server: s)
  end
end
