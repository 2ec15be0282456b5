defmodule PipelineExDouble.Fixtures do
  @moduledoc """
  Result maps exactly as pipeline_ex builds them (nshkrdotcom/pipeline_ex at commit ff625ec),
  each with the workflow that produced it and the file:line it comes from. Values (text,
  cost, ids) are made up; keys, key types (atom vs string), nesting and wrappers are
  pipeline_ex's. `PipelineExDouble` builds its results with the same functions.

  The sidecar's tests replay the wire form of each (test/pipeline/fixtures/pipeline_ex/*.json,
  written from here: `REGEN_PIPELINE_EX_FIXTURES=1 mix test test/pipeline/dspy/pipeline_ex_contract_test.exs`).
  """

  @answer ~s({"findings": ["GenServer state grows without bound"], "recommendations": ["Add a cap"], "severity": "medium"})
  @at ~U[2026-11-30 12:00:00Z]

  def answer, do: @answer

  # -- result builders (also used by PipelineExDouble) ------------------------------------

  @doc "claude, live: claude_provider.ex:188-194 (atom keys)."
  def claude_live(text, cost, model \\ "claude-sonnet-4-5"),
    do: %{text: text, success: true, cost: cost, model: model}

  @doc "claude, mocked: test/mocks/claude_provider.ex:86-91 (string keys)."
  def claude_mocked(text, cost), do: %{"text" => text, "success" => true, "cost" => cost}

  @doc """
  claude_smart, live: enhanced_claude_provider.ex:519-524 (text, success, cost, session_id)
  plus claude_smart.ex:149-157 (claude_smart_metadata).
  """
  def claude_smart(text, cost, preset \\ "analysis"),
    do: %{
      "text" => text,
      "success" => true,
      "cost" => cost,
      "session_id" => "9f1c2d3e-session",
      "claude_smart_metadata" => %{
        "preset_applied" => preset,
        "environment_aware" => false,
        "optimization_applied" => true
      }
    }

  @doc "claude_session: the provider's result plus claude_session.ex:160-169."
  def claude_session(text, cost),
    do:
      Map.put(
        claude_smart(text, cost) |> Map.delete("claude_smart_metadata"),
        "claude_session_metadata",
        %{
          "session_id" => "sess-42",
          "session_name" => "review",
          "session_persisted" => false,
          "checkpoint_frequency" => 5,
          "continue_on_restart" => false
        }
      )

  @doc "claude_extract with include_metadata: claude_extract.ex:427-461 (merged over the provider's result)."
  def claude_extract(text, cost),
    do:
      Map.merge(Map.delete(claude_smart(text, cost), "claude_smart_metadata"), %{
        "text" => text,
        "success" => true,
        "extraction_applied" => true,
        "extraction_metadata" => %{
          "format" => "json",
          "use_content_extractor" => false,
          "post_processing_applied" => [],
          "extraction_timestamp" => @at,
          "original_length" => String.length(text),
          "processed_length" => String.length(text),
          "step_name" => "extract"
        }
      })

  @doc "claude_robust: claude_robust.ex:99-109 (robustness_metadata) and 387-401 (claude_robust_metadata)."
  def claude_robust(text, cost),
    do:
      Map.merge(Map.delete(claude_smart(text, cost), "claude_smart_metadata"), %{
        "robustness_metadata" => %{
          "attempt_number" => 1,
          "total_attempts" => 1,
          "execution_time_ms" => 812,
          "error_history" => [],
          "retry_strategy_used" => "exponential",
          "recovery_successful" => false
        },
        "claude_robust_metadata" => %{
          "step_name" => "robust",
          "retry_config_used" => %{"max_retries" => 3, "backoff_strategy" => "exponential"},
          "robustness_applied" => true,
          "error_recovery_enabled" => true,
          "fallback_configured" => true,
          "circuit_breaker_active" => false,
          "robust_execution_timestamp" => @at
        }
      })

  @doc "gemini, live: gemini_provider.ex:178-185 (atom keys; tokens from token_usage/1)."
  def gemini(text, input, output),
    do: %{
      text: text,
      success: true,
      cost: input * 0.000001 + output * 0.000002,
      tokens: %{input: input, output: output, total: input + output},
      model: "gemini-flash-lite-latest"
    }

  @doc "A skipped step: executor.ex:275-279 (wrapped in \"result\" for a pipeline step with inputs: 283-289)."
  def skipped(condition),
    do: %{"success" => true, "skipped" => true, "reason" => "Condition not met: #{condition}"}

  @doc "set_variable: set_variable.ex:57-61 (no success key)."
  def set_variable(vars),
    do: %{
      "variables_set" => Map.keys(vars),
      "scope" => "global",
      "variable_count" => map_size(vars)
    }

  @doc "data_transform: data_transform.ex:113-121."
  def data_transform(field, value, input_type \\ "map", output_type \\ "list"),
    do: %{
      field => value,
      "metadata" => %{
        "operation_count" => 1,
        "input_type" => input_type,
        "output_type" => output_type,
        "processed_at" => "2026-11-30T12:00:00Z"
      }
    }

  @doc "for_loop, sequential: loop.ex:73-78, 106-111, 161 (iterations in order)."
  def for_loop(iterations),
    do: %{
      "iterations" =>
        for {{item, results}, i} <- Enum.with_index(iterations) do
          %{"index" => i, "item" => item, "success" => true, "results" => results}
        end,
      "success" => true,
      "total_items" => length(iterations),
      "completed_items" => length(iterations)
    }

  @doc "while_loop ended by its condition: loop.ex:311-316 (the body's results are not kept)."
  def while_loop(n), do: %{"success" => true, "iterations" => n, "condition_met" => false}

  @doc "parallel_claude: parallel_claude.ex:44-54 (atom keys; each task's {:ok, result} tuple)."
  def parallel_claude(by_id),
    do: %{
      combined_results:
        Enum.map_join(by_id, "\n", fn {id, r} -> "\n===[#{id}]===\n" <> inspect(r) end),
      individual_results: Map.new(by_id)
    }

  @doc "claude_batch: claude_batch.ex:237-245 (per task) and 326-352 (consolidated)."
  def claude_batch(tasks),
    do: %{
      "success" => true,
      "batch_processed" => true,
      "total_tasks" => length(tasks),
      "successful_tasks" => length(tasks),
      "failed_tasks" => 0,
      "batch_results" =>
        for {task_id, r} <- tasks do
          %{
            "task_id" => task_id,
            "status" => "success",
            "result" => r,
            "file" => nil,
            "execution_time_ms" => 700
          }
        end,
      "text" => Enum.map_join(tasks, "\n\n", fn {_, r} -> r["text"] end),
      "claude_batch_metadata" => %{
        "step_name" => "batch",
        "batch_processed_at" => @at,
        "total_tasks" => length(tasks)
      }
    }

  # -- fixtures: %{name, cite, workflow, results} ------------------------------------------

  defp wf(name, steps), do: %{"workflow" => %{"name" => name, "steps" => steps}}

  defp llm(name, type),
    do: %{
      "name" => name,
      "type" => type,
      "prompt" => [%{"type" => "static", "content" => "Analyze {{inputs.code}}"}]
    }

  def all do
    [
      %{
        name: "claude_live",
        cite: "lib/pipeline/providers/claude_provider.ex:188-194",
        workflow: wf("w", [llm("analyze", "claude")]),
        results: %{"analyze" => claude_live(@answer, 0.0123)}
      },
      %{
        name: "claude_mocked",
        cite: "lib/pipeline/test/mocks/claude_provider.ex:86-91",
        workflow: wf("w", [llm("analyze", "claude")]),
        results: %{"analyze" => claude_mocked(@answer, 0.001)}
      },
      %{
        name: "claude_smart",
        cite:
          "lib/pipeline/providers/enhanced_claude_provider.ex:519-524; lib/pipeline/step/claude_smart.ex:149-157",
        workflow:
          wf("code_analysis", [Map.put(llm("analyze_code", "claude_smart"), "preset", "analysis")]),
        results: %{"analyze_code" => claude_smart(@answer, 0.0042)}
      },
      %{
        name: "claude_session",
        cite: "lib/pipeline/step/claude_session.ex:160-169",
        workflow: wf("w", [llm("review", "claude_session")]),
        results: %{"review" => claude_session(@answer, 0.003)}
      },
      %{
        name: "claude_extract",
        cite: "lib/pipeline/step/claude_extract.ex:427-461",
        workflow: wf("w", [llm("extract", "claude_extract")]),
        results: %{"extract" => claude_extract(@answer, 0.002)}
      },
      %{
        name: "claude_robust",
        cite: "lib/pipeline/step/claude_robust.ex:99-109, 387-401",
        workflow: wf("w", [llm("robust", "claude_robust")]),
        results: %{"robust" => claude_robust(@answer, 0.005)}
      },
      %{
        name: "gemini",
        cite: "lib/pipeline/providers/gemini_provider.ex:178-185",
        workflow: wf("w", [llm("plan", "gemini")]),
        results: %{"plan" => gemini(@answer, 120, 80)}
      },
      %{
        name: "skipped_last_step",
        cite: "lib/pipeline/executor.ex:275-279, 293",
        workflow:
          wf("w", [
            llm("zeta_analyze", "claude_smart"),
            Map.put(llm("alpha_review", "claude"), "condition", "zeta_analyze.needs_review")
          ]),
        results: %{
          "zeta_analyze" => claude_smart(@answer, 0.004),
          "alpha_review" => skipped("zeta_analyze.needs_review")
        }
      },
      %{
        name: "run_order",
        cite:
          "lib/pipeline/executor.ex:226-230, 452-456 (steps run in list order; results keyed by name)",
        workflow: wf("w", [llm("zeta_first", "claude"), llm("alpha_last", "claude_smart")]),
        results: %{
          "zeta_first" => claude_live("first answer", 0.001),
          "alpha_last" => claude_smart(@answer, 0.002)
        }
      },
      %{
        name: "steps_named_like_the_wire",
        cite:
          "lib/pipeline/executor.ex:452-456 (results keyed by the step's name, whatever it is)",
        workflow:
          wf("w", [
            %{"name" => "steps", "type" => "set_variable", "variables" => %{"n" => 1}},
            llm("status", "claude"),
            llm("output", "claude_smart")
          ]),
        results: %{
          "steps" => set_variable(%{"n" => 1}),
          "status" => claude_live("looks fine", 0.001),
          "output" => claude_smart(@answer, 0.002)
        }
      },
      %{
        name: "set_variable_and_data_transform",
        cite:
          "lib/pipeline/step/set_variable.ex:57-61; lib/pipeline/step/data_transform.ex:113-121",
        workflow:
          wf("w", [
            %{"name" => "init", "type" => "set_variable", "variables" => %{"limit" => 3}},
            %{
              "name" => "pick",
              "type" => "data_transform",
              "input_source" => "previous_response:init",
              "operations" => [%{"operation" => "sort", "field" => "x"}],
              "output_field" => "picked"
            }
          ]),
        results: %{
          "init" => set_variable(%{"limit" => 3}),
          "pick" => data_transform("picked", [%{"x" => 1}, %{"x" => 2}])
        }
      },
      %{
        name: "for_loop",
        cite: "lib/pipeline/step/loop.ex:73-78, 106-111, 161",
        workflow:
          wf("w", [
            %{
              "name" => "review_loop",
              "type" => "for_loop",
              "iterator" => "file",
              "data_source" => "{{inputs.files}}",
              "steps" => [llm("analyze", "claude"), llm("summarize", "claude_smart")]
            }
          ]),
        results: %{
          "review_loop" =>
            for_loop([
              {"a.ex",
               %{
                 "analyze" => claude_live("a ok", 0.001),
                 "summarize" => claude_smart(@answer, 0.002)
               }},
              {"b.ex",
               %{
                 "analyze" => claude_live("b ok", 0.001),
                 "summarize" => claude_smart(@answer, 0.002)
               }}
            ])
        }
      },
      %{
        name: "while_loop",
        cite: "lib/pipeline/step/loop.ex:311-316",
        workflow:
          wf("w", [
            %{
              "name" => "refine",
              "type" => "while_loop",
              "condition" => "refine_step.score < 8",
              "max_iterations" => 3,
              "steps" => [llm("refine_step", "claude")]
            }
          ]),
        results: %{"refine" => while_loop(2)}
      },
      %{
        name: "nested_pipeline_with_inputs",
        cite: "lib/pipeline/context/nested.ex:67-82; lib/pipeline/executor.ex:443-450",
        workflow:
          wf("w", [
            %{
              "name" => "sub",
              "type" => "pipeline",
              "inputs" => %{"code" => "{{inputs.code}}"},
              "pipeline" => %{
                "name" => "inner",
                "steps" => [llm("inner_analyze", "claude_smart")]
              }
            }
          ]),
        results: %{"sub" => %{"result" => %{"inner_analyze" => claude_smart(@answer, 0.003)}}}
      },
      %{
        name: "parallel_claude",
        cite: "lib/pipeline/step/parallel_claude.ex:20-54",
        workflow:
          wf("w", [
            %{
              "name" => "fan",
              "type" => "parallel_claude",
              "parallel_tasks" => [
                %{
                  "id" => "sec",
                  "prompt" => [%{"type" => "static", "content" => "Security review"}]
                },
                %{
                  "id" => "perf",
                  "prompt" => [%{"type" => "static", "content" => "Performance review"}]
                }
              ]
            }
          ]),
        results: %{
          "fan" =>
            parallel_claude([
              {"sec", {:ok, claude_live("no issues", 0.001)}},
              {"perf", {:ok, claude_live("slow loop", 0.002)}}
            ])
        }
      },
      %{
        name: "claude_batch",
        cite: "lib/pipeline/step/claude_batch.ex:73-135, 237-245, 326-352",
        workflow:
          wf("w", [
            %{
              "name" => "batch",
              "type" => "claude_batch",
              "tasks" => [
                %{"task_id" => "addition", "prompt" => "2+2"},
                %{"id" => "mul", "prompt" => "3*3"}
              ]
            }
          ]),
        results: %{
          "batch" =>
            claude_batch([
              {"addition", claude_mocked("4", 0.001)},
              {"task_1", claude_mocked("9", 0.001)}
            ])
        }
      }
    ]
  end
end
