//! One formatter for a run's events as log lines: the CLI prints them, the
//! window's Training tab lists them, so both say the same thing the same way.

use super::TrainEvent;

/// The log line of `event`; `None` for iterations, which the progress bar
/// and the plots show instead.
pub fn event_line(event: &TrainEvent) -> Option<String> {
    Some(match event {
        TrainEvent::Started {
            run,
            config,
            device,
            params,
            start_epoch,
            start_batch,
            ..
        } => {
            let resume = match (*start_epoch, *start_batch) {
                (_, b) if b > 0 => format!(", resuming epoch {} at batch {}", start_epoch + 1, b + 1),
                (0, _) => String::new(),
                (e, _) => format!(", resuming after epoch {e}"),
            };
            format!(
                "started {run} on {device}: {} ({} parameters){resume}",
                config.model.display_name(),
                crate::numbers::thousands(*params)
            )
        }
        TrainEvent::Iteration { .. } => return None,
        TrainEvent::Decoding {
            split,
            done,
            total,
            seconds,
        } => {
            if done < total || *total == 0 {
                return None;
            }
            format!(
                "decoded {} {split} images into the image cache in {seconds:.1} s",
                crate::numbers::thousands(*total)
            )
        }
        TrainEvent::Epoch(m) => format!(
            "epoch {}: train loss {:.4} acc {:.1}%, val loss {:.4} acc {:.1}%, lr {:.2e}, {:.1}s, {:.0} img/s",
            m.epoch,
            m.train_loss,
            m.train_accuracy * 100.0,
            m.val_loss,
            m.val_accuracy * 100.0,
            m.lr,
            m.seconds,
            m.images_per_sec
        ),
        TrainEvent::PhaseChanged {
            epoch,
            phase,
            description,
        } => {
            // runs recorded by early builds put "phase N: " in the description
            let prefix = format!("phase {phase}: ");
            let what = description.strip_prefix(&prefix).unwrap_or(description);
            format!("epoch {epoch}: phase {phase}: {what}")
        }
        TrainEvent::Paused { .. } => "paused".into(),
        TrainEvent::Resumed { .. } => "resumed".into(),
        TrainEvent::Checkpoint {
            epoch, batch, kind, ..
        } => match batch {
            Some(b) => format!(
                "checkpoint {} at epoch {}, batch {b} (resume continues there)",
                kind.name(),
                epoch + 1
            ),
            None => format!("checkpoint {} after epoch {epoch}", kind.name()),
        },
        TrainEvent::LrChanged {
            epoch,
            from,
            to,
            reason,
        } => format!("epoch {epoch}: learning rate {from:.2e} -> {to:.2e} ({reason})"),
        TrainEvent::WeightsLoaded {
            file,
            format,
            tensors,
            values,
        } => format!(
            "loaded {tensors} pretrained tensors ({values} values, {format}) from {}",
            file.display()
        ),
        TrainEvent::EarlyStopped {
            epoch,
            best_epoch,
            best_val_accuracy,
        } => format!(
            "early stop at epoch {epoch}: best val acc {:.1}% at epoch {best_epoch}",
            best_val_accuracy * 100.0
        ),
        TrainEvent::Evaluated {
            split,
            accuracy,
            macro_f1,
            macro_auc,
            path,
        } => format!(
            "{split}: accuracy {:.2}%, macro F1 {macro_f1:.4}, macro AUC {} -> {}",
            accuracy * 100.0,
            macro_auc.map_or("n/a".into(), |a| format!("{a:.4}")),
            path.display()
        ),
        TrainEvent::Finished {
            status,
            epochs_completed,
            seconds,
            ..
        } => format!("finished ({status:?}) after {epochs_completed} epochs, {seconds:.1}s"),
        TrainEvent::Failed { error } => format!("failed: {error}"),
    })
}
