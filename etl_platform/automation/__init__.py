"""What makes the pipeline run by itself: arrival sensors, the join barrier, the weekly schedule, alerts."""
