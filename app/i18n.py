"""Every text of the app, in English and Japanese (日本語), in one dictionary.

`t("key", name=value)` returns the text in the language picked in the sidebar.
A test checks that every key has both languages and the same {placeholders}.
Method settings get labels from `param_<name>` keys when present, else their name.
"""
from __future__ import annotations

import os

import streamlit as st

LANGS = {"en": "English", "ja": "日本語"}

STRINGS: dict[str, dict[str, str]] = {
    # -- frame -------------------------------------------------------------------------
    "lang_label": {"en": "Language / 言語", "ja": "言語 / Language"},
    "nav_home": {"en": "Home", "ja": "ホーム"},
    "nav_teacher": {"en": "Teacher", "ja": "教師モデル"},
    "nav_distill": {"en": "Distill", "ja": "蒸留"},
    "nav_runs": {"en": "Runs", "ja": "実行一覧"},
    "nav_compare": {"en": "Compare", "ja": "比較"},
    "nav_summary": {"en": "Executive summary", "ja": "経営向けサマリー"},
    "nav_explore": {"en": "Explore", "ja": "探索"},
    "sidebar_runs_dir": {"en": "Runs are stored in `{path}`", "ja": "実行結果の保存先: `{path}`"},
    "details": {"en": "Details", "ja": "詳細"},
    "advanced": {"en": "Advanced settings", "ja": "詳細設定"},
    "show_config": {"en": "All settings of this run", "ja": "この実行の全設定"},
    "show_log": {"en": "Log (last lines)", "ja": "ログ（末尾）"},
    "checking": {"en": "Checking the settings…", "ja": "設定を確認しています…"},
    "evaluating": {"en": "Measuring accuracy on the sample images…", "ja": "サンプル画像で精度を測定しています…"},
    "test_images": {"en": "test images", "ja": "枚のテスト画像"},
    # -- home --------------------------------------------------------------------------
    "home_title": {"en": "LAKD Studio", "ja": "LAKD Studio"},
    "home_intro": {
        "en": "**LAKD makes a large, accurate image model (the *teacher*) teach a small, fast one (the *student*).** "
              "At each stage, the student learns *where* the teacher looks in the picture, shown as a heat map "
              "that ignores what the features mean and keeps only how strong they are. "
              "The student is cut into small parts that learn on their own, with the learning signal cut between "
              "them, so each part can be trained with the memory of one part, and the small student keeps most "
              "of the teacher's accuracy.",
        "ja": "**LAKD は、大きく高精度な画像モデル（*教師*）が、小さく高速なモデル（*生徒*）を教える技術です。** "
              "各段階で、生徒は教師が画像の *どこを* 見ているかを学びます。これは特徴の意味ではなく強さだけを表す"
              "ヒートマップとして示されます。"
              "生徒は小さな部分に分けられ、部分ごとに学習信号を切り離して独立に学ぶため、一度に一部分のメモリで学習でき、"
              "小さな生徒が教師の精度の大半を保ちます。"},
    "home_picture_caption": {
        "en": "Top: the teacher's stages. Middle: its activation maps (where its features are strong). Bottom: the "
              "student's local modules, each matching the teacher's map; the red cuts stop the learning signal "
              "between modules.",
        "ja": "上: 教師の各段階。中: その活性化マップ（特徴が強い場所）。下: 生徒のローカルモジュール。各モジュールは教師の"
              "マップに合わせて学習し、赤い切れ目がモジュール間の学習信号を遮断します。"},
    "home_more_title": {"en": "More detail for specialists", "ja": "専門家向けの詳細"},
    "home_more": {
        "en": "- **Non-directional activation maps (NDAM):** A(F) = mean over channels of |F|^p, flattened and "
              "L2-normalised; invariant to sign flips and channel order, and needs no class label (unlike Grad-CAM).\n"
              "- **Local modules:** the student is partitioned at block boundaries (per stage, per block, or into N "
              "modules). Each module has its own loss; its output is detached before the next module, so no "
              "gradient crosses a cut.\n"
              "- **Losses:** cross-entropy, softened logits (KD), and the map loss ||A(s) − A(t)||² per stage; "
              "other methods (AT, FitNet, DKD) can be chosen on the Distill page for comparison.",
        "ja": "- **非方向性活性化マップ (NDAM):** A(F) = チャネル方向の |F|^p の平均を平坦化し L2 正規化したもの。"
              "符号の反転やチャネルの並び替えに影響されず、Grad-CAM と違ってクラスラベルを必要としません。\n"
              "- **ローカルモジュール:** 生徒はブロックの境界で分割されます（段階ごと、ブロックごと、または N 個）。"
              "各モジュールは自分の損失を持ち、出力は次のモジュールの前で切り離される（detach）ため、勾配は切れ目を越えません。\n"
              "- **損失:** 交差エントロピー、ソフトなロジット（KD）、段階ごとのマップ損失 ||A(s) − A(t)||²。"
              "比較のため、蒸留ページで他の手法（AT、FitNet、DKD）も選べます。"},
    "schema_teacher": {"en": "Teacher", "ja": "教師"},
    "schema_student": {"en": "Student", "ja": "生徒"},
    "schema_maps": {"en": "Maps", "ja": "マップ"},
    "schema_stage": {"en": "Stage", "ja": "段階"},
    "schema_module": {"en": "Module", "ja": "モジュール"},
    "schema_cut": {"en": "gradient cut", "ja": "勾配の切断"},
    "schema_prediction": {"en": "Prediction", "ja": "予測"},
    "home_demo_title": {"en": "See it work", "ja": "実際に動かしてみる"},
    "home_demo_text": {
        "en": "One click distils the bundled teacher (ResNet-20) into a small ResNet-8 with **{method}** on the "
              "bundled Fashion-MNIST sample, in a short training of {epochs} epoch(s): about a minute on a laptop CPU. "
              "Training runs in the background; you can leave this page.",
        "ja": "ワンクリックで、同梱の教師（ResNet-20）を小さな ResNet-8 に **{method}** で蒸留します。データは同梱の "
              "Fashion-MNIST サンプル、{epochs} エポックの短い学習で、ノート PC の CPU でも約 1 分です。"
              "学習はバックグラウンドで進むので、このページを離れても構いません。"},
    "demo_button": {"en": "Run the demo", "ja": "デモを実行"},
    "demo_queued": {"en": "Demo queued: it starts in a few seconds.", "ja": "デモを登録しました。数秒で始まります。"},
    "teacher_missing": {
        "en": "The bundled teacher is not available yet ({path}). Train a quick teacher or upload one on the "
              "Teacher page.",
        "ja": "同梱の教師モデルがまだありません（{path}）。「教師モデル」ページで簡易教師を学習するか、アップロードしてください。"},
    "link_runs": {"en": "Open in Runs", "ja": "実行一覧で開く"},
    "link_compare": {"en": "Compare the maps", "ja": "マップを比較する"},
    "link_summary": {"en": "Executive summary", "ja": "経営向けサマリー"},
    "link_teacher": {"en": "Go to the Teacher page", "ja": "教師モデルのページへ"},
    # -- live run panel ----------------------------------------------------------------
    "live_run": {"en": "Run", "ja": "実行"},
    "progress_done": {"en": "Finished: epoch {epochs} of {epochs}", "ja": "完了: {epochs} / {epochs} エポック"},
    "progress_epochs": {"en": "{done} of {epochs} epochs done", "ja": "{epochs} エポック中 {done} 完了"},
    "progress_steps": {"en": "Epoch {epoch} of {epochs}: step {step}/{steps} · {speed} images/s",
                       "ja": "エポック {epoch}/{epochs}: ステップ {step}/{steps} · 毎秒 {speed} 枚"},
    "run_queued_hint": {"en": "Waiting for the background worker to start it…",
                        "ja": "バックグラウンドのワーカーが開始するのを待っています…"},
    "run_first_epoch_hint": {"en": "Test accuracy and losses appear after the first epoch; until then the curve "
                                   "shows the running training accuracy.",
                             "ja": "テスト精度と損失は最初のエポックの後に表示されます。それまでは学習中の精度を表示します。"},
    "run_failed": {"en": "The run failed: {message}", "ja": "実行が失敗しました: {message}"},
    "run_missing": {"en": "Run {run} is not in the run store.", "ja": "実行 {run} は保存先にありません。"},
    "metric_test_acc": {"en": "Test accuracy", "ja": "テスト精度"},
    "metric_best_acc": {"en": "Best so far", "ja": "これまでの最高"},
    "metric_time": {"en": "Training time", "ja": "学習時間"},
    "button_stop": {"en": "Stop", "ja": "停止"},
    "button_resume": {"en": "Resume", "ja": "再開"},
    "stop_requested": {"en": "Stop requested: the run saves and stops at its next step.",
                       "ja": "停止を要求しました。次のステップで保存して停止します。"},
    "stopped_before_start": {"en": "stopped before it started", "ja": "開始前に停止しました"},
    "resume_queued": {"en": "Queued to resume from its last checkpoint.",
                      "ja": "最後のチェックポイントから再開するよう登録しました。"},
    "chart_accuracy": {"en": "Accuracy", "ja": "精度"},
    "chart_loss": {"en": "Loss", "ja": "損失"},
    "chart_test_accuracy": {"en": "Test accuracy per epoch", "ja": "エポックごとのテスト精度"},
    "axis_epoch": {"en": "epoch", "ja": "エポック"},
    "axis_accuracy": {"en": "accuracy (%)", "ja": "精度 (%)"},
    "axis_loss": {"en": "loss", "ja": "損失"},
    "curve_test_acc": {"en": "test", "ja": "テスト"},
    "curve_train_live": {"en": "training (within the epoch)", "ja": "学習中（エポック途中）"},
    "curve_train_acc": {"en": "training", "ja": "学習"},
    "curve_total_loss": {"en": "total", "ja": "合計"},
    "teacher_line": {"en": "teacher", "ja": "教師"},
    # -- statuses ----------------------------------------------------------------------
    "status_queued": {"en": "queued", "ja": "待機中"},
    "status_starting": {"en": "starting", "ja": "開始中"},
    "status_running": {"en": "running", "ja": "実行中"},
    "status_completed": {"en": "completed", "ja": "完了"},
    "status_failed": {"en": "failed", "ja": "失敗"},
    "status_stopped": {"en": "stopped", "ja": "停止"},
    "status_interrupted": {"en": "interrupted", "ja": "中断"},
    "status_diverged": {"en": "diverged", "ja": "発散"},
    "status_unknown": {"en": "unknown", "ja": "不明"},
    "status_missing": {"en": "missing", "ja": "見つかりません"},
    # -- tables ------------------------------------------------------------------------
    "col_run": {"en": "run", "ja": "実行"},
    "col_status": {"en": "status", "ja": "状態"},
    "col_method": {"en": "method", "ja": "手法"},
    "col_student": {"en": "student", "ja": "生徒"},
    "col_teacher": {"en": "teacher", "ja": "教師"},
    "col_data": {"en": "data", "ja": "データ"},
    "col_epoch": {"en": "epochs", "ja": "エポック"},
    "col_test_acc": {"en": "test accuracy (%)", "ja": "テスト精度 (%)"},
    "col_best_acc": {"en": "best accuracy", "ja": "最高精度"},
    "col_created": {"en": "created", "ja": "作成日時"},
    "col_minutes": {"en": "minutes", "ja": "分"},
    "col_match": {"en": "map match, stage {stage}", "ja": "マップ一致度（段階 {stage}）"},
    "col_measure": {"en": "measure", "ja": "項目"},
    "col_student_model": {"en": "student ({arch})", "ja": "生徒（{arch}）"},
    "col_teacher_model": {"en": "teacher ({arch})", "ja": "教師（{arch}）"},
    # -- teacher -----------------------------------------------------------------------
    "teacher_title": {"en": "Teacher", "ja": "教師モデル"},
    "teacher_intro": {
        "en": "The teacher is the large model whose knowledge is passed on. Use the bundled one, upload your own, "
              "or train a quick one here.",
        "ja": "教師は、知識を受け渡す側の大きなモデルです。同梱のものを使うか、自分のモデルをアップロードするか、ここで簡易的に学習できます。"},
    "teacher_bundled_title": {"en": "The bundled teacher", "ja": "同梱の教師モデル"},
    "teacher_bundled_text": {"en": "A ResNet-20 trained on Fashion-MNIST, stored in `{path}`.",
                             "ja": "Fashion-MNIST で学習した ResNet-20。保存場所: `{path}`"},
    "teacher_bundled_short": {"en": "bundled", "ja": "同梱"},
    "teacher_upload_title": {"en": "Upload a teacher", "ja": "教師モデルをアップロード"},
    "teacher_upload_text": {
        "en": "A `.safetensors` file, or a PyTorch `.pt` file holding only weights (a state_dict); files that "
              "would run code are refused.",
        "ja": "`.safetensors` ファイル、または重み（state_dict）だけを含む PyTorch の `.pt` ファイル。コードを実行するようなファイルは拒否されます。"},
    "teacher_arch_label": {"en": "Architecture", "ja": "アーキテクチャ"},
    "teacher_arch_help": {"en": "Needed for .pt files, which do not say what model they hold.",
                          "ja": ".pt ファイルはモデルの種類を含まないため指定が必要です。"},
    "arch_from_file": {"en": "read it from the file", "ja": "ファイルから読み取る"},
    "teacher_upload_label": {"en": "Checkpoint file", "ja": "チェックポイントファイル"},
    "upload_saved": {"en": "Saved as `{path}`; it can now be picked as the teacher on the Distill page.",
                     "ja": "`{path}` に保存しました。蒸留ページで教師として選べます。"},
    "teacher_previous": {"en": "Uploaded earlier ({n})", "ja": "これまでのアップロード（{n} 件）"},
    "teacher_train_title": {"en": "Train a quick teacher", "ja": "簡易教師を学習する"},
    "teacher_train_text": {"en": "Trains a model on the sample data with labels only; it runs in the background.",
                           "ja": "サンプルデータでラベルだけを使ってモデルを学習します。バックグラウンドで実行されます。"},
    "teacher_train_button": {"en": "Train this teacher", "ja": "この教師を学習する"},
    "teacher_train_queued": {"en": "Queued as run `{run}`. When it completes, pick it as the teacher on the Distill page.",
                             "ja": "実行 `{run}` として登録しました。完了したら蒸留ページで教師として選べます。"},
    "metric_arch": {"en": "Architecture", "ja": "アーキテクチャ"},
    "metric_params": {"en": "Parameters", "ja": "パラメータ数"},
    "metric_sample_acc": {"en": "Accuracy on sample test images", "ja": "サンプルのテスト画像での精度"},
    "eval_failed": {"en": "Could not measure the accuracy: {error}", "ja": "精度を測定できませんでした: {error}"},
    "eval_not_sample": {"en": "This model does not take the sample images (10 classes, 3×32×32), so its accuracy "
                              "is not measured here.",
                        "ja": "このモデルはサンプル画像（10 クラス、3×32×32）に対応していないため、ここでは精度を測定しません。"},
    "teacher_opt_bundled": {"en": "Bundled teacher (ResNet-20, Fashion-MNIST)", "ja": "同梱の教師（ResNet-20、Fashion-MNIST）"},
    "teacher_opt_upload": {"en": "Uploaded: {name}", "ja": "アップロード: {name}"},
    "teacher_opt_run": {"en": "Run {run} ({acc})", "ja": "実行 {run}（{acc}）"},
    "no_teacher_yet": {"en": "No teacher is available yet.", "ja": "利用できる教師モデルがまだありません。"},
    "teacher_opt_pack": {"en": "Teacher pack: {name} ({arch} on {data})", "ja": "教師パック: {name}（{arch}、{data}）"},
    "link_distill": {"en": "Go to the Distill page", "ja": "蒸留のページへ"},
    # -- teacher packs ----------------------------------------------------------------
    "pack_title": {"en": "Teacher packs: distill without the teacher in the loop",
                   "ja": "教師パック: 教師モデルを動かさずに蒸留する"},
    "pack_text": {"en": "A pack runs the teacher **once** over the training images and keeps only what distillation "
                        "reads: its answers (logits) and its coarse activation maps. Runs from a pack skip the "
                        "teacher's computation at every step, and the pack can be shared where the teacher's weights "
                        "cannot. A pack serves KD, DKD and LAKD; AT, FitNet and LAKD's hybrid term need a pack with "
                        "raw features. Augmentation is off with a pack (the teacher saw each image once).",
                  "ja": "パックは教師モデルを学習画像に対して**一度だけ**実行し、蒸留が読むもの、つまり出力（ロジット）と"
                        "粗い活性化マップだけを保存します。パックからの実行では毎ステップの教師の計算が不要になり、"
                        "教師の重みを渡せない相手にもパックなら渡せます。パックで使える手法は KD、DKD、LAKD です。"
                        "AT、FitNet、LAKD のハイブリッド項には特徴量入りのパックが必要です。パック使用時はデータ拡張を"
                        "使いません（教師は各画像を一度だけ見ています）。"},
    "pack_features_label": {"en": "Also keep raw features", "ja": "生の特徴量も保存する"},
    "pack_features_help": {"en": "Needed by AT, FitNet and LAKD's hybrid term; about 20 times larger.",
                           "ja": "AT、FitNet、LAKD のハイブリッド項に必要です。サイズは約 20 倍になります。"},
    "pack_dtype_label": {"en": "Precision", "ja": "精度（数値型）"},
    "pack_dtype_help": {"en": "float32 gives exactly the live teacher's results; float16 halves the size.",
                        "ja": "float32 なら教師を直接使う場合と同じ結果になります。float16 はサイズが半分です。"},
    "pack_name_label": {"en": "Pack name (optional)", "ja": "パック名（任意）"},
    "pack_make_button": {"en": "Make the pack", "ja": "パックを作成"},
    "pack_making": {"en": "Running the teacher over the training images…", "ja": "学習画像に教師モデルを実行しています…"},
    "pack_failed": {"en": "The pack was not made: {error}", "ja": "パックを作成できませんでした: {error}"},
    "pack_made": {"en": "Pack `{name}` is ready; it is now the teacher on the Distill page.",
                  "ja": "パック `{name}` を作成しました。蒸留ページの教師に設定済みです。"},
    "pack_upload_label": {"en": "Or upload a pack someone made (.zip of the pack folder)",
                          "ja": "または、他の人が作成したパックをアップロード（パックフォルダーの .zip）"},
    "pack_upload_help": {"en": "Made with `python -m lakd teacher-pack`; holds no weights and no code.",
                         "ja": "`python -m lakd teacher-pack` で作成したもの。重みもコードも含みません。"},
    "pack_uploaded": {"en": "Pack `{name}` added.", "ja": "パック `{name}` を追加しました。"},
    "pack_none": {"en": "No teacher pack yet (packs are kept in `{path}`).",
                  "ja": "教師パックはまだありません（保存先: `{path}`）。"},
    "pack_use_hint": {"en": "Pick a pack as the teacher on the Distill page.", "ja": "蒸留ページで教師としてパックを選べます。"},
    "pack_size_title": {"en": "Bytes per image: the pack vs the teacher's raw features",
                        "ja": "画像 1 枚あたりのサイズ: パックと教師の生の特徴量"},
    "pack_bar_pack": {"en": "this pack", "ja": "このパック"},
    "pack_bar_raw": {"en": "logits + raw features", "ja": "ロジット + 生の特徴量"},
    "pack_axis_kb": {"en": "KB per image", "ja": "画像 1 枚あたり KB"},
    "col_pack": {"en": "pack", "ja": "パック"},
    "col_pack_teacher_acc": {"en": "teacher accuracy", "ja": "教師の精度"},
    "col_pack_holds": {"en": "holds", "ja": "内容"},
    "col_pack_per_image": {"en": "per image", "ja": "1 枚あたり"},
    "col_raw_per_image": {"en": "with raw features instead", "ja": "生の特徴量なら"},
    "col_on_disk": {"en": "on disk", "ja": "ディスク上"},
    "pack_chosen_caption": {"en": "A teacher pack: the teacher is not run during training; augmentation is off.",
                            "ja": "教師パック: 学習中に教師モデルは実行されません。データ拡張はオフです。"},
    "augment_pack_help": {"en": "Off with a teacher pack: the pack holds the teacher's outputs for the un-augmented images.",
                          "ja": "教師パック使用時はオフです。パックには拡張前の画像に対する教師の出力しかありません。"},
    # -- distill -----------------------------------------------------------------------
    "distill_title": {"en": "Distill", "ja": "蒸留"},
    "distill_intro": {"en": "Pick a teacher, a student and a method; check the settings and launch. Every run "
                            "trains in the background and appears on the Runs page.",
                      "ja": "教師、生徒、手法を選び、設定を確認して開始します。各実行はバックグラウンドで学習され、「実行一覧」に表示されます。"},
    "label_method": {"en": "Method", "ja": "手法"},
    "label_teacher": {"en": "Teacher", "ja": "教師"},
    "label_student": {"en": "Student architecture", "ja": "生徒のアーキテクチャ"},
    "label_arch": {"en": "Architecture", "ja": "アーキテクチャ"},
    "method_settings": {"en": "Settings of {method}", "ja": "{method} の設定"},
    "method_settings_hint": {"en": "The defaults are a good first try.", "ja": "最初は既定値のままで十分です。"},
    "method_no_settings": {"en": "This method has no settings of its own.", "ja": "この手法には固有の設定はありません。"},
    "method_no_teacher": {"en": "This method uses no teacher.", "ja": "この手法は教師を使いません。"},
    "method_lakd": {"en": "LAKD (local modules + activation maps)", "ja": "LAKD（ローカルモジュール＋活性化マップ）"},
    "method_kd": {"en": "KD (soft labels)", "ja": "KD（ソフトラベル）"},
    "method_vanilla": {"en": "No teacher (labels only)", "ja": "教師なし（ラベルのみ）"},
    "method_at": {"en": "AT (attention transfer)", "ja": "AT（アテンション転移）"},
    "method_fitnet": {"en": "FitNet (feature hints)", "ja": "FitNet（特徴ヒント）"},
    "method_dkd": {"en": "DKD (decoupled KD)", "ja": "DKD（分離型 KD）"},
    "method_desc_lakd": {
        "en": "The student is split into local modules that each learn to look where the teacher looks "
              "(activation maps), with the learning signal cut between modules.",
        "ja": "生徒をローカルモジュールに分け、各モジュールが教師の注目する場所（活性化マップ）を学びます。モジュール間の学習信号は切り離されます。"},
    "method_desc_kd": {"en": "The student copies the teacher's softened predictions (Hinton et al., 2015).",
                       "ja": "生徒が教師のソフトな予測を模倣します（Hinton ら, 2015）。"},
    "method_desc_vanilla": {"en": "The student learns from the labels alone: the baseline without a teacher.",
                            "ja": "生徒はラベルだけから学びます。教師なしの基準です。"},
    "method_desc_at": {"en": "The student matches the teacher's attention maps at each stage (Zagoruyko & Komodakis, 2017).",
                       "ja": "各段階で生徒が教師のアテンションマップに合わせます（Zagoruyko & Komodakis, 2017）。"},
    "method_desc_fitnet": {"en": "The student's features are regressed onto the teacher's (Romero et al., 2015).",
                           "ja": "生徒の特徴を教師の特徴に回帰させます（Romero ら, 2015）。"},
    "method_desc_dkd": {"en": "Knowledge distillation split into target and non-target parts (Zhao et al., 2022).",
                        "ja": "知識蒸留を正解クラス部分と非正解クラス部分に分けます（Zhao ら, 2022）。"},
    "param_temperature": {"en": "Temperature", "ja": "温度"},
    "param_ce_weight": {"en": "Label loss weight", "ja": "ラベル損失の重み"},
    "param_kd_weight": {"en": "Soft-label loss weight", "ja": "ソフトラベル損失の重み"},
    "param_partition": {"en": "Partition", "ja": "分割"},
    "param_mode": {"en": "Training mode", "ja": "学習モード"},
    "param_progressive": {"en": "Progressive (deeper modules join over time)", "ja": "段階的（深いモジュールを順に加える）"},
    "param_p": {"en": "Map exponent p", "ja": "マップの指数 p"},
    "param_a": {"en": "Label loss weight (a)", "ja": "ラベル損失の重み (a)"},
    "param_b": {"en": "Soft-label loss weight (b)", "ja": "ソフトラベル損失の重み (b)"},
    "param_g": {"en": "Map loss weight (g)", "ja": "マップ損失の重み (g)"},
    "param_d": {"en": "Feature loss weight (d)", "ja": "特徴損失の重み (d)"},
    "param_sdm": {"en": "Cut the learning signal between modules", "ja": "モジュール間で学習信号を切る"},
    "param_aux_kd": {"en": "Soft labels on every module's head", "ja": "各モジュールのヘッドにもソフトラベルを使う"},
    "param_head_channels": {"en": "Module head width", "ja": "モジュールのヘッドの幅"},
    "param_progressive_span": {"en": "Ramp-up length (fraction of the run)", "ja": "立ち上げ期間（学習全体に対する割合）"},
    "param_coupling": {"en": "Decoupled part of the run", "ja": "分離して学習する期間の割合"},
    "param_feat_weight": {"en": "Feature loss weight", "ja": "特徴損失の重み"},
    "param_hint_stage": {"en": "Hint stage", "ja": "ヒントに使う段階"},
    "param_alpha": {"en": "Target-class weight (alpha)", "ja": "正解クラスの重み (alpha)"},
    "param_beta": {"en": "Other-classes weight (beta)", "ja": "その他クラスの重み (beta)"},
    "param_warmup_epochs": {"en": "Warm-up epochs", "ja": "ウォームアップのエポック数"},
    "param_head_pool": {"en": "Module head input grid", "ja": "モジュールのヘッドの入力グリッド"},
    "param_help_head_pool": {"en": "0 keeps the module's grid; a small grid makes the training-only heads cheaper.",
                             "ja": "0 ならモジュールのグリッドのまま。小さくすると学習専用ヘッドの計算が軽くなります。"},
    "param_help_g": {"en": "How strongly each module is pulled towards the teacher's activation map.",
                     "ja": "各モジュールを教師の活性化マップにどれだけ強く近づけるか。"},
    "param_help_d": {"en": "0 turns the feature term off; above 0 adds a map-weighted feature loss (hybrid mode).",
                     "ja": "0 で特徴項を無効にします。0 より大きいとマップで重み付けした特徴損失を加えます（ハイブリッド）。"},
    "param_help_sdm": {"en": "Off trains end to end with the same losses (for comparison).",
                       "ja": "オフにすると同じ損失で一括学習します（比較用）。"},
    "param_help_head_channels": {"en": "0 uses the module's own width.", "ja": "0 ならモジュール自身の幅を使います。"},
    "param_help_coupling": {"en": "0 never joins the modules; 0.5 trains the first half decoupled, then end to end.",
                            "ja": "0 なら結合しません。0.5 なら前半を分離して学習し、その後一括で学習します。"},
    "param_help_temperature": {"en": "Higher values soften the teacher's predictions.",
                               "ja": "大きいほど教師の予測が滑らかになります。"},
    "param_help_mode": {"en": "joint: one update for all modules; local: each module updates on its own.",
                        "ja": "joint: 全モジュールを一度に更新、local: 各モジュールを個別に更新します。"},
    "param_help_p": {"en": "The map is the channel mean of |feature|^p.", "ja": "マップは |特徴|^p のチャネル平均です。"},
    "partition_title": {"en": "How the student is cut", "ja": "生徒の分割"},
    "partition_label": {"en": "Cut the student", "ja": "生徒の分け方"},
    "partition_stage": {"en": "per stage", "ja": "段階ごと"},
    "partition_block": {"en": "per block", "ja": "ブロックごと"},
    "partition_number": {"en": "Number of modules", "ja": "モジュール数"},
    "partition_help": {"en": "Local modules always end at block boundaries; the learning signal does not cross a cut.",
                       "ja": "ローカルモジュールは必ずブロックの境界で区切られ、学習信号は切れ目を越えません。"},
    "partition_caption": {"en": "{student}: {blocks} blocks in {modules} local modules. Red dashed lines are the "
                                "gradient cuts.",
                          "ja": "{student}: {blocks} ブロックを {modules} 個のローカルモジュールに分割。赤い破線が勾配の切れ目です。"},
    "partition_not_used": {"en": "This method trains the student end to end; the picture shows its blocks and stages.",
                           "ja": "この手法は生徒を一括で学習します。図は生徒のブロックと段階を示します。"},
    "diagram_stage": {"en": "stage", "ja": "段階"},
    "diagram_module": {"en": "module", "ja": "モジュール"},
    "diagram_cut": {"en": "cut", "ja": "切断"},
    "diagram_boundary": {"en": "boundary", "ja": "境界"},
    "partition_no_sdm": {"en": "SDM is off (the measured default): each module still has its own loss, but gradients "
                               "flow across the grey boundaries, end to end. Turn SDM on to cut them, train every "
                               "module on its own, and allow the memory-saving local backward.",
                         "ja": "SDM はオフです（測定で選んだ既定値）。各モジュールは自分の損失を持ちますが、勾配は灰色の境界を越えて"
                               "端から端まで流れます。SDM をオンにすると境界で勾配を切り、各モジュールが独立に学習し、"
                               "省メモリのローカル逆伝播も使えます。"},
    "training_title": {"en": "Training and data", "ja": "学習とデータ"},
    "label_epochs": {"en": "Epochs", "ja": "エポック数"},
    "label_batch": {"en": "Batch size", "ja": "バッチサイズ"},
    "label_lr": {"en": "Learning rate", "ja": "学習率"},
    "label_device": {"en": "Device", "ja": "デバイス"},
    "device_auto": {"en": "automatic", "ja": "自動"},
    "device_cpu": {"en": "CPU", "ja": "CPU"},
    "device_cuda": {"en": "GPU (CUDA)", "ja": "GPU（CUDA）"},
    "label_data": {"en": "Data set", "ja": "データセット"},
    "data_sample": {"en": "Sample (bundled Fashion-MNIST subset)", "ja": "サンプル（同梱の Fashion-MNIST の一部）"},
    "data_fashion-mnist": {"en": "Fashion-MNIST (full)", "ja": "Fashion-MNIST（全体）"},
    "data_fmnist-mini": {"en": "Fashion-MNIST mini (500 per class)", "ja": "Fashion-MNIST ミニ（各クラス 500 枚）"},
    "data_cifar10": {"en": "CIFAR-10", "ja": "CIFAR-10"},
    "data_cifar100": {"en": "CIFAR-100", "ja": "CIFAR-100"},
    "data_imagefolder": {"en": "My images (folder or zip)", "ja": "自分の画像（フォルダまたは zip）"},
    "label_root": {"en": "Data folder", "ja": "データのフォルダ"},
    "help_root_fashion": {"en": "Optional: a folder with the four Fashion-MNIST IDX files.",
                          "ja": "任意: Fashion-MNIST の 4 つの IDX ファイルがあるフォルダ。"},
    "help_root_fmnist": {"en": "Optional: a folder with the four Fashion-MNIST IDX files.",
                         "ja": "任意: Fashion-MNIST の 4 つの IDX ファイルがあるフォルダ。"},
    "help_root_cifar10": {"en": "The folder that holds cifar-10-batches-py/.",
                          "ja": "cifar-10-batches-py/ を含むフォルダ。"},
    "help_root_cifar100": {"en": "The folder that holds cifar-100-python/.", "ja": "cifar-100-python/ を含むフォルダ。"},
    "help_root_imagefolder": {"en": "A folder with train/ and val/, each with one sub-folder per class.",
                              "ja": "train/ と val/ を含み、それぞれにクラスごとのサブフォルダがあるフォルダ。"},
    "label_zip": {"en": "Or upload a zip of such a folder", "ja": "またはそのフォルダの zip をアップロード"},
    "help_zip": {"en": "Extracted safely into the uploads folder (no paths outside it, size capped).",
                 "ja": "アップロード用フォルダに安全に展開します（外部へのパスは拒否、サイズに上限あり）。"},
    "label_per_class": {"en": "Training images per class", "ja": "クラスごとの学習画像数"},
    "help_per_class": {"en": "Fewer images train faster.", "ja": "少ないほど学習が速くなります。"},
    "help_per_class_all": {"en": "0 keeps them all; fewer images train faster.",
                           "ja": "0 ですべて使用します。少ないほど学習が速くなります。"},
    "label_max_steps": {"en": "Max steps per epoch", "ja": "エポックあたりの最大ステップ数"},
    "help_max_steps": {"en": "0 means no limit; a small number makes a quick trial.",
                       "ja": "0 は制限なし。小さな値にすると短い試行になります。"},
    "label_seed": {"en": "Random seed", "ja": "乱数シード"},
    "label_optimizer": {"en": "Optimizer", "ja": "最適化手法"},
    "label_schedule": {"en": "Learning-rate schedule", "ja": "学習率スケジュール"},
    "label_wd": {"en": "Weight decay", "ja": "重み減衰"},
    "label_augment": {"en": "Augment images (random crop and flip)", "ja": "画像の拡張（ランダムな切り抜きと反転）"},
    "label_input_size": {"en": "Input size (pixels)", "ja": "入力サイズ（ピクセル）"},
    "label_channels": {"en": "Colour channels", "ja": "色チャネル数"},
    "label_name": {"en": "Run name (optional)", "ja": "実行名（任意）"},
    "launch_button": {"en": "Launch", "ja": "開始"},
    "launch_refused": {"en": "Not launched: {problem}", "ja": "開始できません: {problem}"},
    "launch_queued": {"en": "Queued as run `{run}`.", "ja": "実行 `{run}` として登録しました。"},
    "err_need_root": {"en": "this data set needs a data folder", "ja": "このデータセットにはデータのフォルダが必要です"},
    "err_imagefolder_layout": {"en": "{root} must hold train/ and val/, each with one sub-folder per class",
                               "ja": "{root} には train/ と val/ が必要で、それぞれにクラスごとのサブフォルダが必要です"},
    "err_no_cuda": {"en": "a GPU (CUDA) was chosen but none is available; choose automatic or CPU",
                    "ja": "GPU（CUDA）が選ばれていますが利用できません。自動または CPU を選んでください"},
    "err_need_teacher": {"en": "method {method} needs a teacher", "ja": "手法 {method} には教師が必要です"},
    "err_batch_too_big": {"en": "the batch size {batch} is larger than the training set ({n} images)",
                          "ja": "バッチサイズ {batch} が学習データ（{n} 枚）より大きいです"},
    "err_unknown_params": {"en": "method {method} has no setting(s) {names}", "ja": "手法 {method} には設定 {names} がありません"},
    # -- runs --------------------------------------------------------------------------
    "runs_title": {"en": "Runs", "ja": "実行一覧"},
    "runs_intro": {"en": "Every run in the store, from the app or the command line. Pick one to follow it live.",
                   "ja": "アプリやコマンドラインから開始したすべての実行です。1 つ選ぶと進み具合をリアルタイムで確認できます。"},
    "runs_none": {"en": "No runs yet: start one from Home or Distill.",
                  "ja": "まだ実行がありません。「ホーム」または「蒸留」から開始してください。"},
    "runs_command": {"en": "The same run from the command line:", "ja": "コマンドラインで同じ実行をするには:"},
    "runs_pick": {"en": "Follow a run", "ja": "表示する実行"},
    # -- compare -----------------------------------------------------------------------
    "compare_title": {"en": "Compare", "ja": "比較"},
    "compare_intro": {
        "en": "Where does each model look? For the same image, each stage's activation map is laid over the picture: "
              "bright means strong features. A good student looks where its teacher looks.",
        "ja": "各モデルはどこを見ているのでしょうか。同じ画像について、各段階の活性化マップを画像に重ねて表示します。"
              "明るいところほど特徴が強い場所です。良い生徒は教師と同じ場所を見ます。"},
    "compare_none": {"en": "No run has finished an epoch yet.", "ja": "まだ 1 エポック以上終えた実行がありません。"},
    "compare_pick": {"en": "Runs to compare", "ja": "比較する実行"},
    "compare_pick_some": {"en": "Pick at least one run.", "ja": "実行を 1 つ以上選んでください。"},
    "compare_pick_two": {"en": "Pick a second run to compare side by side.", "ja": "2 つ目の実行を選ぶと並べて比較できます。"},
    "compare_data_differs": {"en": "These runs used different data sets; the pictures use the first run's images.",
                             "ja": "これらの実行は異なるデータセットを使っています。画像は最初の実行のものを使います。"},
    "compare_epoch": {"en": "Epoch", "ja": "エポック"},
    "compare_epoch_help": {"en": "0 is the untrained student; the teacher does not change.",
                           "ja": "0 は学習前の生徒です。教師は変わりません。"},
    "compare_image": {"en": "Image", "ja": "画像"},
    "compare_gradcam": {"en": "Grad-CAM", "ja": "Grad-CAM"},
    "compare_gradcam_help": {"en": "Adds a directional map (Grad-CAM on the last stage, for the predicted class, "
                                   "from the final weights) for contrast.",
                             "ja": "比較のため方向性マップ（最終段階の Grad-CAM、予測クラス、最終の重み）を追加します。"},
    "compare_maps_caption": {"en": "Rows: models. Columns: the input, each stage's activation map at epoch {epoch}, "
                                   "and Grad-CAM of the final weights.",
                             "ja": "行: モデル。列: 入力画像、エポック {epoch} の各段階の活性化マップ、最終の重みによる Grad-CAM。"},
    "compare_no_teacher": {"en": "No teacher maps: these runs had no teacher and the bundled teacher is not available.",
                           "ja": "教師のマップがありません。これらの実行には教師がなく、同梱の教師も利用できません。"},
    "compare_how_to_read": {"en": "How to read these maps", "ja": "マップの読み方"},
    "compare_how_to_read_text": {
        "en": "- **Activation maps (NDAM)** show how strong the features are at each place, whatever they mean; "
              "they need no class label. LAKD trains the student to match them stage by stage.\n"
              "- **Grad-CAM** shows which places push the predicted class up: a directional, class-specific map. "
              "It is here for contrast and is not used in training.\n"
              "- Early stages have fine grids (edges, textures); late stages coarse ones (object parts).",
        "ja": "- **活性化マップ（NDAM）** は、意味に関係なく各場所の特徴の強さを示し、クラスラベルを必要としません。"
              "LAKD は生徒がこれに段階ごとに合わせるよう学習させます。\n"
              "- **Grad-CAM** は予測クラスを押し上げる場所を示す、方向性のあるクラス固有のマップです。比較用で、学習には使いません。\n"
              "- 初期の段階は細かい格子（輪郭や質感）、後半の段階は粗い格子（物体の部分）になります。"},
    "compare_curves": {"en": "Accuracy curves", "ja": "精度の推移"},
    "compare_table": {"en": "Key numbers", "ja": "主な数値"},
    "compare_match_caption": {"en": "Map match: how closely the student's maps agree with the teacher's at that "
                                    "epoch (cosine similarity over the 16 tracked images; 100% = the same places).",
                              "ja": "マップ一致度: そのエポックで生徒のマップが教師のマップとどれだけ一致するか"
                                    "（16 枚の追跡画像でのコサイン類似度。100% は同じ場所）。"},
    # -- summary -----------------------------------------------------------------------
    "summary_title": {"en": "Executive summary", "ja": "経営向けサマリー"},
    "summary_intro": {"en": "What a distillation run delivers, in four numbers, with a one-page report to share "
                            "and the small model ready to deploy.",
                      "ja": "蒸留の成果を 4 つの数字で示します。共有用の 1 ページレポートと、すぐに導入できる小さなモデルも取得できます。"},
    "summary_none": {"en": "No completed run yet: run the demo on the Home page.",
                     "ja": "完了した実行がまだありません。「ホーム」でデモを実行してください。"},
    "summary_pick": {"en": "Run", "ja": "実行"},
    "summary_measuring": {"en": "Measuring accuracy, size and speed…", "ja": "精度、サイズ、速度を測定しています…"},
    "summary_failed": {"en": "Could not summarise this run: {error}", "ja": "この実行を要約できませんでした: {error}"},
    "summary_headline": {"en": "The student keeps {kept} of the teacher's accuracy with {smaller} fewer parameters, "
                               "and answers {faster} faster.",
                         "ja": "生徒は教師の精度の {kept} を保ちつつ、パラメータ数は {smaller} 少なく、応答は {faster} 高速です。"},
    "summary_headline_no_teacher": {"en": "This run had no teacher; the model reaches {acc} test accuracy.",
                                    "ja": "この実行には教師がありません。モデルのテスト精度は {acc} です。"},
    "kpi_kept": {"en": "Accuracy kept", "ja": "精度の維持率"},
    "kpi_kept_help": {"en": "The student's test accuracy divided by the teacher's, on the same test images.",
                      "ja": "同じテスト画像での、生徒のテスト精度 ÷ 教師のテスト精度。"},
    "kpi_student_acc": {"en": "Student accuracy", "ja": "生徒の精度"},
    "kpi_smaller": {"en": "Smaller", "ja": "小型化"},
    "kpi_smaller_help": {"en": "Teacher parameters divided by student parameters.", "ja": "教師のパラメータ数 ÷ 生徒のパラメータ数。"},
    "kpi_faster": {"en": "Faster", "ja": "高速化"},
    "kpi_faster_help": {"en": "Teacher latency divided by student latency (CPU, one image, one thread, median of 20).",
                        "ja": "教師の応答時間 ÷ 生徒の応答時間（CPU、画像 1 枚、1 スレッド、20 回の中央値）。"},
    "row_accuracy": {"en": "Test accuracy", "ja": "テスト精度"},
    "row_params": {"en": "Parameters", "ja": "パラメータ数"},
    "row_file": {"en": "File size", "ja": "ファイルサイズ"},
    "row_latency": {"en": "Latency (CPU, 1 image)", "ja": "応答時間（CPU、画像 1 枚）"},
    "summary_table_caption": {"en": "Accuracy on the {n} test images of '{data}'. Latency: median of 20 forward "
                                    "passes, batch 1, one CPU thread, on this machine.",
                              "ja": "精度は「{data}」の {n} 枚のテスト画像で測定。応答時間はこのマシンでの 20 回の推論の中央値"
                                    "（バッチ 1、CPU 1 スレッド）。"},
    "summary_maps_title": {"en": "What the student learned to look at", "ja": "生徒が注目するようになった場所"},
    "summary_maps_caption": {"en": "Teacher and student activation maps on the same test images, per stage, after "
                                   "training: bright means strong features.",
                             "ja": "学習後の、同じテスト画像に対する教師と生徒の各段階の活性化マップ。明るいほど特徴が強い場所です。"},
    "summary_no_maps": {"en": "This run saved no activation maps (save_maps was off).",
                        "ja": "この実行は活性化マップを保存していません（save_maps がオフ）。"},
    "summary_match": {"en": "Map match with the teacher: {values}", "ja": "教師とのマップ一致度: {values}"},
    "summary_share_title": {"en": "Share", "ja": "共有"},
    "download_report": {"en": "Download the one-page report (HTML)", "ja": "1 ページレポートをダウンロード（HTML）"},
    "summary_onnx_title": {"en": "Deploy", "ja": "導入"},
    "summary_onnx_text": {"en": "ONNX is a standard model file that runs without PyTorch (phones, servers, browsers). "
                                "The export is checked: the file must give the same outputs as the trained model.",
                          "ja": "ONNX は PyTorch なしで動く標準的なモデル形式です（スマートフォン、サーバー、ブラウザなど）。"
                                "書き出したファイルが学習済みモデルと同じ出力を返すことを確認します。"},
    "onnx_button": {"en": "Export the student to ONNX", "ja": "生徒を ONNX に書き出す"},
    "onnx_working": {"en": "Exporting and checking…", "ja": "書き出しと確認をしています…"},
    "onnx_ok": {"en": "Checked: the ONNX file matches PyTorch within {diff} (allowed {atol}) on {n} images; {size}.",
                "ja": "確認済み: {n} 枚の画像で ONNX ファイルと PyTorch の差は {diff}（許容 {atol}）。サイズ {size}。"},
    "onnx_mismatch": {"en": "The export does not match: {error}", "ja": "書き出したモデルの出力が一致しません: {error}"},
    "onnx_failed": {"en": "The export failed: {error}", "ja": "書き出しに失敗しました: {error}"},
    "download_onnx": {"en": "Download student.onnx", "ja": "student.onnx をダウンロード"},
    "report_title": {"en": "LAKD Studio: distillation summary", "ja": "LAKD Studio: 蒸留サマリー"},
    "report_subtitle": {"en": "Run {run} · report made {date}", "ja": "実行 {run} · 作成日時 {date}"},
    "report_curve_title": {"en": "Learning progress", "ja": "学習の進み具合"},
    "report_curve_caption": {"en": "The student's test accuracy per epoch; the dashed line is the teacher's.",
                             "ja": "エポックごとの生徒のテスト精度。破線は教師の精度です。"},
    "report_settings": {"en": "Settings (to reproduce)", "ja": "設定（再現用）"},
    "report_footer": {"en": "Made with LAKD Studio. Latency: median of 20 runs, CPU, batch 1, one thread, on the "
                            "machine that made this report.",
                      "ja": "LAKD Studio で作成。応答時間はこのレポートを作成したマシンでの 20 回の中央値（CPU、バッチ 1、1 スレッド）。"},
    "set_run": {"en": "Run", "ja": "実行"},
    "set_method": {"en": "Method", "ja": "手法"},
    "set_params": {"en": "Method settings", "ja": "手法の設定"},
    "set_student": {"en": "Student", "ja": "生徒"},
    "set_teacher": {"en": "Teacher", "ja": "教師"},
    "set_data": {"en": "Data", "ja": "データ"},
    "set_epochs": {"en": "Epochs", "ja": "エポック数"},
    "set_seed": {"en": "Seed", "ja": "シード"},
    "set_command": {"en": "Command", "ja": "コマンド"},
    # -- explore -----------------------------------------------------------------------
    "explore_title": {"en": "Explore", "ja": "探索"},
    "explore_intro": {"en": "Try a small grid of settings on short runs on the sample data: one run per point. "
                            "The chart fills in as the runs complete.",
                      "ja": "サンプルデータでの短い学習で、設定の小さなグリッドを試します（1 点につき 1 実行）。"
                            "実行が完了するにつれてグラフが埋まっていきます。"},
    "explore_axes": {"en": "Settings to vary", "ja": "変える設定"},
    "explore_axis": {"en": "Setting {n}", "ja": "設定 {n}"},
    "explore_no_axis": {"en": "(none)", "ja": "（なし）"},
    "explore_values": {"en": "Values of {name} (comma-separated)", "ja": "{name} の値（カンマ区切り）"},
    "explore_same_axis": {"en": "Pick two different settings.", "ja": "異なる 2 つの設定を選んでください。"},
    "explore_too_many": {"en": "{n} points is too many; at most {max}.", "ja": "{n} 点は多すぎます。最大 {max} 点です。"},
    "explore_points": {"en": "{n} short runs of {epochs} epoch(s) each will be queued.",
                       "ja": "{epochs} エポックの短い実行を {n} 件登録します。"},
    "explore_button": {"en": "Queue the sweep", "ja": "スイープを登録"},
    "explore_point_error": {"en": "Point {point}: {error}", "ja": "点 {point}: {error}"},
    "explore_queued": {"en": "Queued {n} runs.", "ja": "{n} 件の実行を登録しました。"},
    "explore_results": {"en": "Results", "ja": "結果"},
    "explore_none": {"en": "No sweep yet.", "ja": "まだスイープがありません。"},
    "explore_pick": {"en": "Sweep", "ja": "スイープ"},
    "explore_progress": {"en": "{done} of {n} points completed", "ja": "{n} 点中 {done} 点完了"},
    "explore_chart": {"en": "Final test accuracy", "ja": "最終テスト精度"},
    "explore_best": {"en": "Best so far: {point} with {acc}.", "ja": "これまでの最良: {point}（{acc}）。"},
}


def lang() -> str:
    """The language picked in the sidebar ("en" or "ja")."""
    try:
        value = st.session_state.get("lang")
    except Exception:  # outside a Streamlit script
        value = None
    return value if value in LANGS else (os.environ.get("LAKD_LANG") if os.environ.get("LAKD_LANG") in LANGS else "en")


def has_key(key: str) -> bool:
    return key in STRINGS


def t(key: str, **values) -> str:
    """The text for `key` in the current language, with {placeholders} filled in."""
    entry = STRINGS.get(key)
    if entry is None:
        return key
    text = entry.get(lang()) or entry["en"]
    return text.format(**values) if values else text


def language_selector() -> str:
    default = lang()
    if st.session_state.get("lang") not in LANGS:
        st.session_state["lang"] = default
    return st.sidebar.selectbox(t("lang_label"), list(LANGS), format_func=LANGS.get, key="lang")
